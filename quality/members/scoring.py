"""Activities to facts: content that came without a stored score is scored once, through the
same service as `/score`, and every activity is reduced to the facts the profile reads."""

from __future__ import annotations

from collections.abc import Sequence

from quality.errors import InvalidInput, TooLarge
from quality.members.facts import ActivityFacts, activity_facts
from quality.members.schemas import CONTENT_KINDS, Activity, ActivityScore
from quality.rubric.config import Rubric
from quality.schemas import ScoreResult
from quality.service import QualityService


def needs_scoring(activity: Activity) -> bool:
    return activity.kind in CONTENT_KINDS and activity.post is not None and activity.score is None


def score_missing(service: QualityService, activities: Sequence[Activity],
                  field: str = "activities") -> dict[int, ActivityScore]:
    """The scores of the activities that carry content but no score, by position: one batch
    through the service, at most `max_batch_items` of them per call (413 otherwise: send the
    stored ScoreResults, or fewer activities at a time). A post that fails its checks fails the
    call with its own 4xx, naming `activities[i].post...`."""
    positions = [i for i, activity in enumerate(activities) if needs_scoring(activity)]
    limit = service.settings.limits.max_batch_items
    if len(positions) > limit:
        raise TooLarge(f"{len(positions)} activities carry content without a score; at most {limit} are scored "
                       "per call: send the ScoreResult /score gave each (activity.score), or fewer activities",
                       field=field)
    if not positions:
        return {}
    prepared = [service.prepare(activities[i].post, f"{field}[{i}].post.") for i in positions]
    scores = {}
    for position, outcome in zip(positions, service.score_prepared_each(prepared)):
        if isinstance(outcome, Exception):
            raise outcome
        scores[position] = as_activity_score(outcome)
    return scores


def as_activity_score(result: ScoreResult) -> ActivityScore:
    return ActivityScore.model_validate(result.model_dump(mode="json", include={
        "audition": True, "civility_signal": True, "post_kind": True, "dimensions": {"civility": {"context"}}}))


def check_unique_ids(activities: Sequence[Activity], field: str = "activities") -> None:
    """422 when two activities of one call share an id (an id names one activity of a member)."""
    seen: dict[str, int] = {}
    for i, activity in enumerate(activities):
        if activity.id in seen:
            raise InvalidInput(f"activity id {activity.id!r} is given twice (first at {field}[{seen[activity.id]}])",
                               field=f"{field}[{i}].id")
        seen[activity.id] = i


def facts_of(activities: Sequence[Activity], scores: dict[int, ActivityScore], rubric: Rubric,
             field: str = "activities") -> list[ActivityFacts]:
    """One `ActivityFacts` per activity; 422 when two activities share an id."""
    check_unique_ids(activities, field)
    return [activity_facts(activity, scores.get(i, activity.score), rubric) for i, activity in enumerate(activities)]
