"""Stage two, the audition: a 0-100 score of original content, a band and the top reasons.

score = 100 x (weighted mean of the dimensions present, with effort as one more term)
        - penalty points of raised flags, clipped to [0, 100].
Weights are non-negative, so raising one dimension with the others fixed never lowers
the score (tested as a property).
"""

from __future__ import annotations

from dataclasses import dataclass

from quality.rubric.config import Rubric
from quality.schemas import Audition

NEUTRAL = 0.5


@dataclass(frozen=True)
class AuditionInputs:
    dimension_scores: dict[str, float | None]  # clarity, sincerity, helpfulness, composition
    n_chars: int
    n_photos: int
    flags: tuple[str, ...] = ()


def effort_score(n_chars: int, n_photos: int, rubric: Rubric) -> float:
    """Diminishing returns: the first 150 characters count most, the ninth photo least."""
    effort = rubric.audition.effort
    text_part = 1.0 - 0.5 ** (n_chars / effort.chars_half)
    photo_part = 1.0 - 0.5 ** (n_photos / effort.photos_half)
    return max(text_part, 0.7 * text_part + 0.3 * photo_part) if n_photos else text_part


def band_for(score: float, rubric: Rubric) -> str:
    bands = rubric.audition.bands
    if score >= bands.featured:
        return "featured"
    if score >= bands.promising:
        return "promising"
    if score >= bands.ordinary:
        return "ordinary"
    return "low"


def audition(inputs: AuditionInputs, rubric: Rubric, language: str = "zh") -> Audition:
    config = rubric.audition
    terms = {
        name: (weight, inputs.dimension_scores.get(name))
        for name, weight in config.weights.items()
        if inputs.dimension_scores.get(name) is not None
    }
    terms["effort"] = (config.effort.weight, effort_score(inputs.n_chars, inputs.n_photos, rubric))
    total_weight = sum(weight for weight, _ in terms.values())
    mean = sum(weight * score for weight, score in terms.values()) / total_weight if total_weight else 0.0
    penalty = sum(points for flag, points in config.penalties.items() if flag in inputs.flags)
    score = min(100.0, max(0.0, 100.0 * mean - penalty))

    # Reasons: flags first, then the dimensions furthest from neutral, by weighted distance.
    codes = [flag for flag in config.penalties if flag in inputs.flags]
    ranked = sorted(terms.items(), key=lambda kv: -kv[1][0] * abs(kv[1][1] - NEUTRAL))
    for name, (weight, value) in ranked:
        if weight > 0 and abs(value - NEUTRAL) >= config.reason_min_distance:  # a zero weight is no reason
            codes.append(f"{name}_{'high' if value > NEUTRAL else 'low'}")
    codes = codes[: config.max_reasons]
    return Audition(
        score=round(score, 4),
        band=band_for(score, rubric),
        reasons=[rubric.reason_text(code, language) for code in codes],
        reason_codes=codes,
    )
