"""Stage three, the civility signal: how a user treats others, in the context of the parent.

signal = sigmoid(clip(logit(civility score)) + adjustments from the reply's context):
praise and a polite tone raise it; dismissive phrases lower it, more so towards a newcomer; a reply
that addresses its parent rises, one that ignores it falls. The label comes from two
thresholds, and `needs_review` marks scores within `review_margin` of the uncivil
threshold so pipelines can send exactly those to people.
"""

from __future__ import annotations

import math

from quality.rubric.config import Rubric
from quality.schemas import CivilityScore, CivilitySignal

_EPS = 1e-6


def _logit(p: float) -> float:
    p = min(1.0 - _EPS, max(_EPS, p))
    return math.log(p / (1.0 - p))


def civility_signal(civility: CivilityScore | None, rubric: Rubric, language: str = "zh") -> CivilitySignal:
    config = rubric.civility_signal
    if civility is None:  # photos only: nothing said to anyone
        return CivilitySignal(score=0.5, label="neutral", needs_review=False, reasons=[], reason_codes=[])
    adjust = config.adjustments
    context = civility.context
    low, high = config.civility_logit_range
    logit = min(high, max(low, _logit(civility.score)))
    codes: list[str] = ["offensive" if civility.score < config.offensive_below else "civil"]

    praise = min(2.0, context.get("praise", 0.0))
    if praise:
        logit += adjust.praise * praise
        codes.append("praise")
    insults = min(2.0, context.get("insult", 0.0))
    if insults:
        logit += adjust.insult * insults
        codes.append("insult")
    dismissive = min(2.0, context.get("dismissive", 0.0))
    if dismissive:
        logit += adjust.dismissive * dismissive
        codes.append("dismissive")
        if context.get("newcomer_parent"):
            logit += adjust.dismissive_to_newcomer
            codes.append("dismissive_to_newcomer")
    if "parent_relevance" in context:
        shift = context["parent_relevance"] - config.relevance_neutral
        logit += adjust.parent_relevance * shift
        if abs(shift) >= config.relevance_reason_min_shift:
            codes.append("on_topic_reply" if shift > 0 else "off_topic_reply")

    if "politeness" in context:
        shift = context["politeness"] - config.politeness_neutral
        logit += adjust.politeness * shift
        if abs(shift) >= config.politeness_reason_min_shift:
            codes.append("polite" if shift > 0 else "impolite")

    score = 1.0 / (1.0 + math.exp(-logit))
    thresholds = config.thresholds
    if score < thresholds.uncivil_below:
        label = "uncivil"
    elif score >= thresholds.constructive_at_or_above:
        label = "constructive"
    else:
        label = "neutral"
    needs_review = abs(score - thresholds.uncivil_below) <= config.review_margin
    if needs_review:
        codes.append("near_threshold")
    return CivilitySignal(
        score=round(score, 6),
        label=label,
        needs_review=needs_review,
        reasons=[rubric.reason_text(code, language) for code in codes],
        reason_codes=codes,
    )
