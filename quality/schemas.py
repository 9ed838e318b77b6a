"""Typed shapes at the edges: what callers send (`Post`) and what they get (`ScoreResult`).

These follow `CONTRACT.md`. Scores are in [0, 1], higher is better; the audition
score is 0-100. Size limits are checked in `quality.validation`, not here, so the
limits stay configurable and over-limit input gets a 413 rather than a 422.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from quality.registry import DIMENSIONS

Unit = Field(ge=0.0, le=1.0)


class ImageInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    data: str = Field(description="base64 of a JPEG, PNG, WebP or GIF file (no URL is fetched)")


class Parent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    text: str = Field("", description="the message this reply answers")
    author_is_newcomer: bool = False


# The characters the models' clean-up (`quality.normalize.clean_text`) leaves nothing of, as a
# regular-expression class (ECMA-262 and Python alike): a text of these only is empty. Kept equal
# to `clean_text` by tests/test_openapi.py.
BLANK_CHARS = r"\x00-\x20\x7f\x85\xa0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u3000\ufeff"
_VISIBLE_TEXT = {"type": "string", "pattern": f"[^{BLANK_CHARS}]"}
# What validation checks of a post that the fields alone cannot say (quality.validation.check_post):
# some visible text, a title or an image (else 422 empty_post), and `parent` only with kind "reply"
# (else 422 parent_on_post).
_POST_RULES = {
    "anyOf": [{"required": ["text"], "properties": {"text": _VISIBLE_TEXT}},
              {"required": ["title"], "properties": {"title": _VISIBLE_TEXT}},
              {"required": ["images"], "properties": {"images": {"type": "array", "minItems": 1}}}],
    "if": {"required": ["parent"], "properties": {"parent": {"type": "object"}}},
    "then": {"required": ["kind"], "properties": {"kind": {"const": "reply"}}},
}


class Post(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # request types are the schema's: no "1" read as 1, no 0 as false
        json_schema_extra={
            **_POST_RULES,
            "examples": [
                {
                    "id": "p1",
                    "kind": "post",
                    "title": "提车三个月，一千公里长途的真实油耗",
                    "text": "首先说结论：高速油耗6.2L。其次，空间够一家三口用。",
                    "theme": "我的第一次长途旅行",
                }
            ]
        },
    )

    id: str | None = Field(None, max_length=256)
    kind: Literal["post", "reply"] = "post"
    title: str | None = None
    text: str | None = None
    images: list[ImageInput] = Field(default_factory=list)
    parent: Parent | None = None
    theme: str | None = None


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    items: list[Post] = Field(json_schema_extra={"minItems": 1})  # checked as 422 empty_batch


class Span(BaseModel):
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    label: str
    score: float = Unit


class DimensionScore(BaseModel):
    score: float = Unit
    confidence: float = Unit
    evidence: list[str] = Field(default_factory=list)


class CivilityScore(DimensionScore):
    spans: list[Span] = Field(default_factory=list)
    context: dict[str, float | dict[str, float]] = Field(
        default_factory=dict,
        description="reply-in-context signals the rubric reads: uncivil_probability and constructive_probability "
        "(the reply-civility model, calibrated), disagreement {is_disagreement, reasoned}, offensive_probability "
        "(the COLD model), parent_relevance, dismissive, insult, sarcasm, praise, newcomer_parent, politeness",
    )


class ImageComposition(BaseModel):
    index: int = Field(ge=0)
    score: float = Unit
    issues: list[str] = Field(default_factory=list, description="named issues, worst first")
    issue_severity: dict[str, float] = Field(
        default_factory=dict, description="severity in [0, 1] of each named issue"
    )
    suggested_crop: tuple[float, float, float, float] = Field(
        (0.0, 0.0, 1.0, 1.0), description="normalised x0, y0, x1, y1"
    )
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    phash: str = Field(description="perceptual hash (hex), for duplicate checks")
    learned_score: float | None = Field(
        None, ge=0.0, le=1.0, description="the learned composition head's score (null if not deployed)")
    perceived_quality: float | None = Field(
        None, ge=0.0, le=1.0,
        description="perceived technical quality learned from people's ratings (CLIVE), null if not deployed")
    heuristic_score: float | None = Field(
        None, ge=0.0, le=1.0, description="score of the hand-set checks behind `issues`")
    car_probability: float | None = Field(
        None, ge=0.0, le=1.0, description="ImageNet car-class probability mass: evidence the photo shows a car")
    shows_car: bool | None = Field(None, description="car_probability >= the rubric-free cut-off 0.5")
    content: dict[str, float] = Field(
        default_factory=dict, description="ImageNet probability mass per content group: car, nature, city")
    subject_box: tuple[float, float, float, float] | None = Field(
        None, description="where the network sees the main subject (normalised x0, y0, x1, y1)")


class CompositionScore(DimensionScore):
    """`score` is the photo score (perceived quality and composition, capped by severe named issues:
    quality.image.photo_score), over the post's photos best first; the two parts are given apart."""

    images: list[ImageComposition] = Field(default_factory=list)
    perceived_quality: float | None = Field(
        None, ge=0.0, le=1.0, description="the photos' perceived quality, best first (null if not deployed)")
    composition_only: float | None = Field(
        None, ge=0.0, le=1.0, description="the photos' learned composition score, best first (null if not deployed)")


def _dimensions_model() -> type[BaseModel]:
    """`Dimensions`: one field per row of the dimension table (quality.registry), in its order,
    typed by the row's result schema; null where the dimension does not apply to the post."""
    fields = {}
    for spec in DIMENSIONS.values():
        result = globals().get(spec.result)
        if not (isinstance(result, type) and issubclass(result, DimensionScore)):
            raise TypeError(f"dimension {spec.name!r}: its result {spec.result!r} is not a DimensionScore "
                            "schema in quality.schemas")
        fields[spec.name] = (result | None, ... if spec.required_in_results else None)
    return create_model("Dimensions", __doc__="Each dimension's score (null where it does not apply).", **fields)


Dimensions = _dimensions_model()


def check_dimension_fields(dimensions=None, model: type[BaseModel] | None = None) -> None:
    """Start-up check: every row of the dimension table is a field of `Dimensions` of the row's
    result schema, and `Dimensions` has no other field. A row that results cannot carry would be
    computed and then silently dropped; this stops the service instead (TypeError)."""
    dimensions = DIMENSIONS if dimensions is None else dimensions
    model = Dimensions if model is None else model
    fields = model.model_fields
    for spec in dimensions.values():
        field = fields.get(spec.name)
        if field is None:
            raise TypeError(f"dimension {spec.name!r} is in the dimension table (quality.registry) but results "
                            f"({model.__name__}) have no field for it")
        expected = globals().get(spec.result)
        if field.annotation != (expected | None):
            raise TypeError(f"dimension {spec.name!r}: results carry {field.annotation}, the table says {spec.result}")
    extra = set(fields) - set(dimensions)
    if extra:
        raise TypeError(f"results ({model.__name__}) carry {sorted(extra)}, which the dimension table does not list")


class Audition(BaseModel):
    score: float = Field(ge=0.0, le=100.0)
    band: Literal["featured", "promising", "ordinary", "low"]
    reasons: list[str] = Field(default_factory=list)
    reason_codes: list[str] = Field(default_factory=list)


class CivilitySignal(BaseModel):
    score: float = Unit
    label: Literal["constructive", "neutral", "uncivil"]
    needs_review: bool
    reasons: list[str] = Field(default_factory=list)
    reason_codes: list[str] = Field(default_factory=list)
    probabilities: dict[str, float] = Field(
        default_factory=dict, description="calibrated probability of each label: uncivil, neutral, constructive")


class PostKind(BaseModel):
    """What a post is for (quality.text.post_kind): moderation pipelines route on it, and the
    member layer finds initiative (unprompted guides, events, rebuttals) with it."""

    label: Literal["guide", "event", "rebuttal", "showcase", "question", "other"]
    scores: dict[str, float] = Field(default_factory=dict, description="probability of each kind")


class Versions(BaseModel):
    models: str
    rubric: str
    rubric_sha256: str


class ScoreResult(BaseModel):
    id: str | None
    versions: Versions
    dimensions: Dimensions
    audition: Audition
    civility_signal: CivilitySignal
    post_kind: PostKind | None = Field(None, description="posts only (null for replies, and in results "
                                                         "stored before the signal existed)")
    flags: list[str] = Field(default_factory=list)


class BatchResponse(BaseModel):
    results: list[ScoreResult]


class ModelInfo(BaseModel):
    name: str
    version: str
    kind: str
    source: str
    file: str
    sha256: str
    licence: str
    preprocessing: dict = Field(default_factory=dict)
    metrics: dict = Field(default_factory=dict)


class ServiceInfo(BaseModel):
    service_version: str
    models_version: str
    models: list[ModelInfo]
    rubric_version: str
    rubric_sha256: str
    dimensions: list[dict]
    limits: dict
    checksums_verified: bool


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, description="a stable code, e.g. text_too_long, not_found, overloaded")
    message: str = Field(min_length=1, description="what went wrong, for people")
    field: str | None = Field(description="the input it concerns as a path (e.g. items[3].text), or null")


class ErrorBody(BaseModel):
    """The body of every error response (CONTRACT.md "Errors"): 4xx for bad input, 503 when overloaded."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail
