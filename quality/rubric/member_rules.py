"""The rubric file's `members` and `tiers` sections: how a member's activities become the four
stage scores, and what each tier of the ladder requires (quality.members reads them).

A requirement names one figure of one stage ("creation.posts") or a stage's score
("interaction.score"), with `at_least` or `at_most`. Validation refuses unknown figures, a ladder
out of order, and a `leading` tier that would be granted without a person confirming it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TIERS = ("basic", "advanced", "core", "leading")
TIER_LABELS = {"basic": "基础", "advanced": "进阶", "core": "核心", "leading": "引领"}
STAGES = ("participation", "creation", "interaction", "initiative")
# Every figure a stage reports (quality.members.history computes them); requirements may name
# these or "<stage>.score".
STAGE_FIGURES = {
    "participation": ("active_days_30", "active_days_100", "interactions_100", "longest_streak_100",
                      "current_streak"),
    "creation": ("posts", "audition_mean", "audition_shrunk", "share_promising_or_better", "trend",
                 "likes_received", "likes_received_raw"),
    "interaction": ("replies", "constructive_share", "uncivil_share", "newcomer_help", "praise_given",
                    "disagreements", "reasoned_disagreement_share", "needs_review"),
    "initiative": ("unprompted", "guides", "events", "rebuttals", "mentoring"),
}

_Strict = ConfigDict(extra="forbid")


class Windows(BaseModel):
    model_config = _Strict
    short_days: int = Field(gt=0)  # active days in the last ... (30)
    long_days: int = Field(gt=0)  # active days, interactions, streaks (100)
    history_days: int = Field(gt=0)  # posts, replies and initiative counted over ... (365)

    @model_validator(mode="after")
    def _ordered(self) -> "Windows":
        if not self.short_days <= self.long_days <= self.history_days:
            raise ValueError("windows must satisfy short_days <= long_days <= history_days")
        return self


class ParticipationRules(BaseModel):
    model_config = _Strict
    active_days_short_target: float = Field(gt=0)  # this many active days in the short window = full marks
    active_days_long_target: float = Field(gt=0)
    short_weight: float = Field(ge=0, le=1)  # the rest is the long window's


class CreationRules(BaseModel):
    model_config = _Strict
    community_mean: float = Field(ge=0, le=100)  # the audition average posts are shrunk towards
    prior_posts: float = Field(ge=0)  # how many posts' worth of weight the community mean has
    audition_floor: float = Field(ge=0, le=100)  # shrunk audition mapped to 0 ...
    audition_ceiling: float = Field(ge=0, le=100)  # ... and to 1
    posts_half: float = Field(gt=0)  # the volume factor 1 - 0.5^(posts/posts_half)
    trend_posts: int = Field(ge=1)  # trend: mean of the last n posts minus the n before
    best_posts: int = Field(ge=0, le=20)  # named as evidence

    @model_validator(mode="after")
    def _ordered(self) -> "CreationRules":
        if not self.audition_floor < self.audition_ceiling:
            raise ValueError("audition_floor must be below audition_ceiling")
        return self


class InteractionRules(BaseModel):
    model_config = _Strict
    prior_replies: float = Field(ge=0)  # reply civility scores shrunk towards neutral (0.5) with this weight
    uncivil_penalty: float = Field(ge=0)  # score minus penalty x uncivil share
    help_bonus: float = Field(ge=0, le=1)  # up to this much for help given to newcomers ...
    praise_bonus: float = Field(ge=0, le=1)  # ... and for praise given to others' work
    bonus_full_at: float = Field(gt=0)  # replies of a kind that earn the whole bonus
    replies_half: float = Field(gt=0)  # the volume factor 1 - 0.5^(replies/replies_half)
    evidence_items: int = Field(ge=0, le=50)


class InitiativeRules(BaseModel):
    model_config = _Strict
    min_kind_probability: float = Field(gt=0, lt=1)  # post-kind probability that counts as guide / event / rebuttal
    min_audition: float = Field(ge=0, le=100)  # ... for a write-up at least this good
    audition_gated: list[Literal["guide", "event", "rebuttal"]]  # the kinds min_audition applies to
    mentoring_replies: int = Field(ge=1)  # unprompted constructive replies to newcomers ...
    mentoring_weeks: int = Field(ge=1)  # ... over at least this many distinct weeks
    score_half: float = Field(gt=0)  # score 1 - 0.5^(sum of confidences / score_half)


class MemberRules(BaseModel):
    model_config = _Strict
    windows: Windows
    participation: ParticipationRules
    creation: CreationRules
    interaction: InteractionRules
    initiative: InitiativeRules


class TierRequirement(BaseModel):
    model_config = _Strict
    code: str = Field(min_length=1)
    figure: str = Field(description='"<stage>.<figure>" or "<stage>.score"')
    label: str = Field(min_length=1)  # shown to the member (zh)
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _one_bound_known_figure(self) -> "TierRequirement":
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError(f"requirement {self.code!r}: give exactly one of at_least, at_most")
        stage, _, name = self.figure.partition(".")
        if stage not in STAGE_FIGURES or (name != "score" and name not in STAGE_FIGURES[stage]):
            known = [f"{s}.{f}" for s in STAGES for f in ("score", *STAGE_FIGURES[s])]
            raise ValueError(f"requirement {self.code!r}: unknown figure {self.figure!r}; known: {known}")
        return self

    @property
    def required(self) -> float:
        return self.at_least if self.at_least is not None else self.at_most

    def met(self, value: float) -> bool:
        return value >= self.at_least if self.at_least is not None else value <= self.at_most

    def far_below(self, value: float, fraction: float) -> bool:
        """Below `fraction` of an at_least threshold (above threshold / fraction for at_most):
        how far a held tier's requirement must fall before demotion is considered."""
        if self.at_least is not None:
            return value < fraction * self.at_least
        return value > self.at_most / fraction if fraction > 0 else True


class TierRule(BaseModel):
    model_config = _Strict
    needs_confirmation: bool = False
    requirements: list[TierRequirement] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> "TierRule":
        codes = [r.code for r in self.requirements]
        if len(codes) != len(set(codes)):
            raise ValueError(f"requirement codes repeat: {codes}")
        return self


class Demotion(BaseModel):
    model_config = _Strict
    below_fraction: float = Field(gt=0, le=1)  # a held requirement counts as lost below this share of it
    grace_days: int = Field(ge=0)  # ... and only when it has been lost this long
    check_every_days: int = Field(ge=1)  # how often within the grace period it is checked


class TierRules(BaseModel):
    """Basic needs nothing; each higher tier lists what it requires (explicitly, not inherited)."""

    model_config = _Strict
    demotion: Demotion
    replay_days: int = Field(gt=0)  # without a current tier: the ladder is climbed over this much history
    replay_every_days: int = Field(gt=0)  # ... one step at most per this many days
    advanced: TierRule
    core: TierRule
    leading: TierRule

    @model_validator(mode="after")
    def _leading_is_confirmed(self) -> "TierRules":
        if not self.leading.needs_confirmation:
            raise ValueError("tiers.leading.needs_confirmation must be true: a person confirms leaders")
        return self

    def rule(self, tier: str) -> TierRule | None:
        return None if tier == "basic" else getattr(self, tier)


Tier = Literal["basic", "advanced", "core", "leading"]
