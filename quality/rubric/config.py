"""The rubric file: its typed shape, validation at start-up, and its version and hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from quality.errors import RubricError
from quality.registry import DIMENSIONS
from quality.rubric.member_rules import MemberRules, TierRules

# The audition may weigh any scoring dimension of the table (quality.registry).
AUDITION_DIMENSIONS = tuple(DIMENSIONS)
# Flags raised by checks rather than by a score threshold: photos that repeat each other (or a
# stored photo), and the civility signal's review band.
CHECK_FLAGS = ("duplicate_image", "needs_review")
# Reasons the member layer gives for a suggested tier (quality.members.tiers).
TIER_REASONS = ("tier_promoted", "tier_kept", "tier_in_grace", "tier_demoted", "tier_needs_confirmation",
                "tier_replayed")


class ReasonText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Effort(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float = Field(ge=0)
    chars_half: float = Field(gt=0)
    photos_half: float = Field(gt=0)


class Bands(BaseModel):
    model_config = ConfigDict(extra="forbid")
    featured: float = Field(ge=0, le=100)
    promising: float = Field(ge=0, le=100)
    ordinary: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> "Bands":
        if not self.featured > self.promising > self.ordinary:
            raise ValueError("bands must satisfy featured > promising > ordinary")
        return self


class ScoreFlag(BaseModel):
    """A flag raised when a dimension's score is below a cut-off."""

    model_config = ConfigDict(extra="forbid")
    dimension: str
    below: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _known_dimension(self) -> "ScoreFlag":
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"unknown dimension {self.dimension!r}; known: {tuple(DIMENSIONS)}")
        return self


class FlagRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: dict[str, ScoreFlag]  # on every result (`ScoreResult.flags`), in this order
    contest_entry: dict[str, ScoreFlag]  # on contest entries only, beside the repeat checks

    @model_validator(mode="after")
    def _no_clash(self) -> "FlagRules":
        clash = (set(self.result) & set(self.contest_entry)) | ((set(self.result) | set(self.contest_entry))
                                                                & set(CHECK_FLAGS))
        if clash:
            raise ValueError(f"flag names given twice (or that name a check): {sorted(clash)}")
        return self


class AuditionRubric(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weights: dict[str, float]
    effort: Effort
    penalties: dict[str, float]
    bands: Bands
    reason_min_distance: float = Field(ge=0, le=0.5)
    max_reasons: int = Field(ge=0, le=10)

    @model_validator(mode="after")
    def _known_names(self) -> "AuditionRubric":
        unknown = set(self.weights) - set(AUDITION_DIMENSIONS)
        if unknown:
            raise ValueError(f"unknown audition dimensions {sorted(unknown)}; known: {AUDITION_DIMENSIONS}")
        if any(w < 0 for w in self.weights.values()) or sum(self.weights.values()) <= 0:
            raise ValueError("audition weights must be >= 0 with a positive sum (monotone scoring)")
        if any(p < 0 for p in self.penalties.values()):
            raise ValueError("penalties are points taken off and must be >= 0")
        return self


class CivilityRubric(BaseModel):
    """Cut-offs on the reply-civility model's calibrated probabilities (quality.rubric.civility_signal)."""

    model_config = ConfigDict(extra="forbid")
    uncivil_at_or_above: float = Field(gt=0, lt=1)  # P(uncivil)
    constructive_at_or_above: float = Field(gt=0, lt=1)  # P(constructive | not uncivil)
    review_margin: float = Field(ge=0, le=0.5)  # needs_review: P(uncivil) this close to its cut-off
    disagreement_at_or_above: float = Field(gt=0, lt=1)  # P(disagreement): the reply disagrees
    reasoned_at_or_above: float = Field(gt=0, lt=1)  # P(reasoned | disagreement)
    on_topic_relevance_at_or_above: float = Field(ge=0, le=1)  # parent relevance that is a reason
    civil_below: float = Field(gt=0, lt=1)  # the reason "civil" only below this P(uncivil)

    @model_validator(mode="after")
    def _ordered(self) -> "CivilityRubric":
        if not self.civil_below <= self.uncivil_at_or_above:
            raise ValueError("civil_below must not be above uncivil_at_or_above")
        return self


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1)
    audition: AuditionRubric
    civility_signal: CivilityRubric
    flags: FlagRules
    members: MemberRules
    tiers: TierRules
    reasons: dict[str, ReasonText]
    sha256: str = ""

    @model_validator(mode="after")
    def _penalties_name_result_flags(self) -> "Rubric":
        known = (*CHECK_FLAGS, *self.flags.result)
        unknown = set(self.audition.penalties) - set(known)
        if unknown:
            raise ValueError(f"unknown penalty flags {sorted(unknown)}; known: {known}")
        return self

    @model_validator(mode="after")
    def _every_reason_has_text(self) -> "Rubric":
        needed = {f"{d}_{side}" for d in (*self.audition.weights, "effort") for side in ("high", "low")}
        needed |= set(self.audition.penalties)
        needed |= {"civil", "praise", "dismissive", "dismissive_to_newcomer", "on_topic_reply", "insult", "sarcasm",
                   "attack_on_disagreement", "reasoned_disagreement", "uncivil_reply", "near_threshold",
                   *TIER_REASONS}
        missing = needed - set(self.reasons)
        if missing:
            raise ValueError(f"reason texts missing for {sorted(missing)}")
        return self

    def reason_text(self, code: str, language: str) -> str:
        text = self.reasons[code]
        return text.en if language == "en" else text.zh


def load_rubric(path: Path) -> Rubric:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RubricError(f"cannot read rubric file {path}: {exc}") from exc
    try:
        data = yaml.safe_load(raw)
        rubric = Rubric.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise RubricError(f"invalid rubric file {path}:\n{exc}") from exc
    return rubric.model_copy(update={"sha256": hashlib.sha256(raw).hexdigest()})
