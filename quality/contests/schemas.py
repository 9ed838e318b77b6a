"""The contest API's data shapes (`../shared/CONTRACT.md`): what judges and pipelines send and get back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from quality.schemas import ScoreResult

Name = Field(min_length=1, max_length=200)
Judge = Field(min_length=1, max_length=100, description="who judged: a name or id, as the contest organiser keeps it")


class ContestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Name
    theme: str = Field(min_length=1, max_length=200, description="e.g. 我的第一次长途旅行; entries are scored against it")
    description: str | None = Field(None, max_length=4000)


class Contest(BaseModel):
    id: str
    name: str
    theme: str
    description: str | None = None
    created_at: datetime
    entries: int = Field(0, ge=0)
    judgements: int = Field(0, ge=0)


class EntryImage(BaseModel):
    index: int = Field(ge=0)
    phash: str = Field(description="perceptual hash (hex) of the photo")
    thumbnail_url: str = Field(description="a JPEG thumbnail (at most 320 px on the long side)")
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class Entry(BaseModel):
    """A stored, scored contest entry. Photos are kept as hashes and thumbnails, not originals."""

    id: str
    contest_id: str
    client_id: str | None = Field(None, description="the `id` the client gave the post, if any")
    created_at: datetime
    title: str | None = None
    text: str | None = None
    images: list[EntryImage] = Field(default_factory=list)
    result: ScoreResult
    model_version: str
    rubric_version: str
    flags: list[str] = Field(default_factory=list,
                             description="duplicate_image, near_duplicate_image, duplicate_text, near_duplicate_text, "
                                         "off_theme, needs_review, plus the score's own flags")
    duplicate_of: list[str] = Field(default_factory=list, description="entries this one repeats (earlier first)")


class PairJudgement(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    judge: str = Judge
    winner: str = Field(min_length=1, max_length=64, description="entry id preferred")
    loser: str = Field(min_length=1, max_length=64, description="entry id it was preferred over")


class ScoreJudgement(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    judge: str = Judge
    entry: str = Field(min_length=1, max_length=64)
    score: float = Field(ge=0.0, le=100.0, description="the judge's own score, on the audition scale 0-100")


def _judgement_kind(value) -> str:
    if isinstance(value, dict):
        return "~score" if "entry" in value or "score" in value else "~pair"
    return "~score" if isinstance(value, ScoreJudgement) else "~pair"


# A body with `entry` or `score` is a direct score, anything else a preference: errors then name
# the fields of the kind that was meant. (Tags start with "~": error locations leave them out.)
Judgement = Annotated[Union[Annotated[PairJudgement, Tag("~pair")], Annotated[ScoreJudgement, Tag("~score")]],
                      Discriminator(_judgement_kind)]


class JudgementRecord(BaseModel):
    id: str
    contest_id: str
    judge: str
    kind: Literal["pair", "score"]
    winner: str | None = None
    loser: str | None = None
    entry: str | None = None
    score: float | None = None
    created_at: datetime


class RankingInputs(BaseModel):
    """What the ranking now rests on, answered to a recorded judgement."""

    judgement: JudgementRecord
    entries: int = Field(ge=0)
    pairs: int = Field(ge=0, description="pairwise preferences recorded")
    scores: int = Field(ge=0, description="direct scores recorded")
    judges: int = Field(ge=0)


class RankedEntry(BaseModel):
    entry: str = Field(description="entry id")
    rank: int = Field(ge=1)
    score: float = Field(ge=0.0, le=100.0,
                         description="combined strength as P(beats a typical entry) x 100: the model's audition "
                                     "score as prior, moved by judges' preferences and scores")
    interval: tuple[float, float] = Field(description="bootstrap 95 % interval of `score` (low, high)")
    p_top_k: float = Field(ge=0.0, le=1.0, description="share of bootstrap rankings with this entry in the top k")
    tied_with: list[str] = Field(default_factory=list,
                                 description="neighbouring entries whose intervals overlap this one's")
    model_score: float = Field(ge=0.0, le=100.0, description="the audition score alone")
    comparisons: int = Field(0, ge=0, description="judges' preferences involving this entry")
    judge_scores: int = Field(0, ge=0, description="judges' direct scores of this entry")
    dimensions: dict[str, float | None] = Field(default_factory=dict, description="per-dimension scores (0-1)")
    reasons: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    title: str | None = None
    thumbnails: list[str] = Field(default_factory=list)


class SuggestedPair(BaseModel):
    a: str
    b: str
    why: str


class Ranking(BaseModel):
    contest_id: str | None = None
    theme: str
    k: int = Field(ge=1)
    method: str = Field(description="how the ranking was combined (library and model)")
    bootstrap: int = Field(ge=0)
    entries: list[RankedEntry]
    next_pair: SuggestedPair | None = Field(None, description="the comparison that would most sharpen the ranking")
    pairs: int = Field(0, ge=0)
    scores: int = Field(0, ge=0)
