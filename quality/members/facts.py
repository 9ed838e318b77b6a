"""One activity reduced to the few facts the profile reads (a time, a local day, what kind,
prompted or not, and the numbers its ScoreResult gave), so a history is read once and every
window and tier check afterwards is arithmetic on arrays (quality.members.history)."""

from __future__ import annotations

from dataclasses import dataclass

from quality.members.schemas import CONTENT_KINDS, Activity, ActivityScore
from quality.rubric.config import Rubric

SECONDS_PER_DAY = 86400.0
INITIATIVE_KINDS = ("guide", "event", "rebuttal")


@dataclass(frozen=True, slots=True)
class ActivityFacts:
    id: str
    t: float  # seconds since the epoch (UTC)
    day: int  # the member's local calendar day (the activity's own UTC offset), days since the epoch
    kind: str
    prompted: bool  # answers a task
    other_member: str | None
    # posts with a score
    audition: float | None = None
    band: str | None = None  # featured / promising / ordinary / low
    post_kind: str | None = None
    post_kind_probability: float = 0.0
    # replies and comments with a score
    civility: str | None = None  # uncivil / neutral / constructive
    civility_score: float | None = None
    needs_review: bool = False
    newcomer_parent: bool = False
    praise: bool = False
    disagreement: bool = False
    reasoned: bool = False

    @property
    def promising(self) -> bool:
        return self.band in ("featured", "promising")

    @property
    def own(self) -> bool:
        """Something the member did (a like received is done to them)."""
        return self.kind != "like_received"

    @property
    def is_post(self) -> bool:
        return self.kind == "post" and self.audition is not None

    @property
    def is_reply(self) -> bool:
        return self.kind in ("reply", "comment") and self.civility is not None


def activity_facts(activity: Activity, score: ActivityScore | None, rubric: Rubric) -> ActivityFacts:
    """The facts of one activity; `score` is its content's score (None: not scored or no content)."""
    at = activity.at
    offset = at.utcoffset().total_seconds()
    t = at.timestamp()
    base = dict(id=activity.id, t=t, day=int((t + offset) // SECONDS_PER_DAY), kind=activity.kind,
                prompted=activity.task is not None, other_member=activity.other_member)
    if score is None or activity.kind not in CONTENT_KINDS:
        return ActivityFacts(**base)
    if activity.kind == "post":
        kind = score.post_kind
        label = kind.label if kind is not None else None
        return ActivityFacts(**base, audition=score.audition.score,
                             band=score.audition.band,
                             post_kind=label,
                             post_kind_probability=float(kind.scores.get(label, 0.0)) if kind is not None else 0.0)
    signal = score.civility_signal
    context = score.dimensions.civility.context if score.dimensions.civility is not None else {}
    disagreement = context.get("disagreement") if isinstance(context.get("disagreement"), dict) else {}
    cuts = rubric.civility_signal
    disagrees = float(disagreement.get("is_disagreement", 0.0)) >= cuts.disagreement_at_or_above
    parent = activity.post.parent if activity.post is not None else None
    newcomer = bool(context.get("newcomer_parent", 0.0)) or bool(parent is not None and parent.author_is_newcomer)
    return ActivityFacts(
        **base,
        civility=signal.label,
        civility_score=signal.score,
        needs_review=signal.needs_review,
        newcomer_parent=newcomer,
        praise=signal.label != "uncivil" and ("praise" in signal.reason_codes or float(context.get("praise", 0.0)) > 0),
        disagreement=disagrees,
        reasoned=disagrees and float(disagreement.get("reasoned", 0.0)) >= cuts.reasoned_at_or_above,
    )
