"""The member layer's data shapes (`../shared/CONTRACT.md`, "Members"): a member's activities in,
a profile with four stages and a suggested tier out.

An activity may carry the `ScoreResult` its content got from `/score`; only the parts the
profile reads are checked here (`ActivityScore`), so results stored by older versions, with
fields since added or dropped, are still accepted and nothing is scored twice.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from quality.schemas import Post, PostKind

ActivityKind = Literal["vote", "comment", "post", "reply", "like_given", "like_received", "event_attended"]
TierName = Literal["basic", "advanced", "core", "leading"]
InitiativeKind = Literal["guide", "event", "rebuttal", "mentoring"]
StageName = Literal["participation", "creation", "interaction", "initiative"]
# Activities whose content is scored: the others are counted, not read.
CONTENT_KINDS = ("comment", "post", "reply")
MAX_PROFILE_ACTIVITIES = 5000
MAX_STORED_BATCH = 256

# Stored results are read leniently (other fields ignored) but typed strictly: no "1" read as 1.
_Permissive = ConfigDict(extra="ignore", strict=True)
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _date_time_text(value):
    """Pydantic would read a number (or a numeral in a string) as seconds since 1970; a timestamp
    here is an RFC 3339 date-time only, as the schema says."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an RFC 3339 date-time with its UTC offset, e.g. 2026-11-02T20:15:00+08:00")
    return value


# A date-time with its UTC offset, written as RFC 3339 text (never a number of seconds).
Timestamp = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]


class TaskRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(min_length=1, max_length=256)
    tier: TierName | None = None


class _AuditionView(BaseModel):
    model_config = _Permissive
    score: float = Field(ge=0.0, le=100.0)
    band: Literal["featured", "promising", "ordinary", "low"]


class _CivilitySignalView(BaseModel):
    model_config = _Permissive
    score: float = Field(ge=0.0, le=1.0)
    label: Literal["constructive", "neutral", "uncivil"]
    needs_review: bool = False
    reason_codes: list[str] = Field(default_factory=list)


class _CivilityView(BaseModel):
    model_config = _Permissive
    context: dict = Field(default_factory=dict)


class _DimensionsView(BaseModel):
    model_config = _Permissive
    civility: _CivilityView | None = None


class _PostKindView(PostKind):
    model_config = ConfigDict(strict=True)


class ActivityScore(BaseModel):
    """The parts of a `ScoreResult` the profile reads; any other field is accepted and ignored."""

    model_config = _Permissive
    audition: _AuditionView
    civility_signal: _CivilitySignalView
    dimensions: _DimensionsView = Field(default_factory=_DimensionsView)
    post_kind: _PostKindView | None = None


class Activity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=256, description="unique per member")
    at: Timestamp = Field(description="when, with its UTC offset (e.g. 2026-11-02T20:15:00+08:00)")
    kind: ActivityKind
    post: Post | None = Field(None, description="the content, for comment / post / reply")
    score: ActivityScore | None = Field(None, description="the ScoreResult /score gave `post`: used instead of "
                                                          "scoring it again")
    task: TaskRef | None = Field(None, description="the task it answers; absent means unprompted")
    other_member: str | None = Field(None, max_length=256,
                                     description="who liked, or whose post this reply answers")


class MemberActivity(Activity):
    """One line of a community export (`quality members`): an activity with its member."""

    member_id: str = Field(min_length=1, max_length=256)


class ProfileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(min_length=1, max_length=256)
    joined_at: Timestamp | None = None
    as_of: Timestamp | None = Field(None, description="the profile's date (default: now)")
    current_tier: TierName | None = Field(None, description="the tier the member holds today (default: basic)")
    activities: list[Activity] = Field(default_factory=list,
                                       description=f"at most {MAX_PROFILE_ACTIVITIES} (413 beyond)")


class ActivitiesBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    activities: list[Activity] = Field(description=f"at most {MAX_STORED_BATCH} per call (413 beyond)")


class TierConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    tier: TierName = Field(description="the tier a person confirms the member holds")


class StoredCount(BaseModel):
    stored: int = Field(ge=0)
    already_stored: int = Field(ge=0)


class Evidence(BaseModel):
    activity: str = Field(description="the activity's id")
    why: str = ""
    kind: str | None = None
    confidence: float | None = Field(None, ge=0.0, le=1.0)


class Stage(BaseModel):
    score: float = Field(ge=0.0, le=1.0)
    figures: dict[str, float | int | None] = Field(default_factory=dict)
    evidence: list[Evidence] = Field(default_factory=list)


class Stages(BaseModel):
    participation: Stage
    creation: Stage
    interaction: Stage
    initiative: Stage


class TierSuggestion(BaseModel):
    suggested: TierName
    label: str
    current: TierName = Field(description="the tier held: as sent (current_tier), else as climbed from the "
                                          "history up to the last look before as_of")
    needs_confirmation: bool
    reasons: list[str] = Field(default_factory=list)
    reason_codes: list[str] = Field(default_factory=list)


class Requirement(BaseModel):
    code: str
    label: str
    value: float
    required: float
    met: bool


class NextTier(BaseModel):
    tier: TierName | None = Field(description="null at the top of the ladder")
    requirements: list[Requirement] = Field(default_factory=list)


class ProfileVersions(BaseModel):
    models: str
    rubric: str


class MemberProfile(BaseModel):
    member_id: str
    as_of: datetime
    versions: ProfileVersions
    stages: Stages
    tier: TierSuggestion
    next_tier: NextTier
    flags: list[str] = Field(default_factory=list)


class MemberSummary(BaseModel):
    member_id: str
    suggested_tier: TierName
    stages: dict[str, float]
    activities: int = Field(ge=0)
    last_active: datetime | None = None


class MemberPage(BaseModel):
    members: list[MemberSummary]
    next_cursor: str | None = None
