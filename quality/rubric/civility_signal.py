"""Stage three, the civility signal: how a member treats the person they answer.

The reply-civility model (`quality.text.reply_civility`) reads a reply with its parent and gives
calibrated probabilities: P(uncivil), and for a reply that is not uncivil P(constructive) against
neutral. So the three labels have probabilities

    uncivil = P(uncivil),  constructive = (1 - P(uncivil)) x P(constructive),  neutral = the rest,

and `score` = constructive + 0.5 x neutral (1 constructive, 0.5 neutral, 0 uncivil, in
expectation). The label comes from the rubric file's cut-offs on the probabilities (fitted on the
team's dev replies); `needs_review` marks replies whose P(uncivil) is within `review_margin` of its
cut-off, so pipelines can send exactly those to people. Disagreements are named: reasoned, or an
attack on whoever disagrees. Reasons name what the model and the lexicons saw, and never call a
reply civil when it is labelled uncivil or holds an insult.
"""

from __future__ import annotations

from quality.rubric.config import Rubric
from quality.schemas import CivilityScore, CivilitySignal


def _probability(context: dict, name: str) -> float | None:
    value = context.get(name)
    return float(value) if isinstance(value, (int, float)) else None


def civility_signal(civility: CivilityScore | None, rubric: Rubric, language: str = "zh") -> CivilitySignal:
    config = rubric.civility_signal
    if civility is None:  # photos only: nothing said to anyone
        return CivilitySignal(score=0.5, label="neutral", needs_review=False, reasons=[], reason_codes=[],
                              probabilities={"uncivil": 0.0, "neutral": 1.0, "constructive": 0.0})
    context = civility.context
    p_uncivil = _probability(context, "uncivil_probability")
    if p_uncivil is None:  # no reply model: the civility score alone
        p_uncivil = 1.0 - civility.score
    p_constructive_if_civil = _probability(context, "constructive_probability") or 0.0
    probabilities = {
        "uncivil": p_uncivil,
        "neutral": (1.0 - p_uncivil) * (1.0 - p_constructive_if_civil),
        "constructive": (1.0 - p_uncivil) * p_constructive_if_civil,
    }
    score = probabilities["constructive"] + 0.5 * probabilities["neutral"]
    if p_uncivil >= config.uncivil_at_or_above:
        label = "uncivil"
    elif p_constructive_if_civil >= config.constructive_at_or_above:
        label = "constructive"
    else:
        label = "neutral"
    needs_review = abs(p_uncivil - config.uncivil_at_or_above) <= config.review_margin
    codes = _reason_codes(label, context, config, p_uncivil)
    if needs_review:
        codes.append("near_threshold")
    return CivilitySignal(
        score=round(score, 6),
        label=label,
        needs_review=needs_review,
        reasons=[rubric.reason_text(code, language) for code in codes],
        reason_codes=codes,
        probabilities={name: round(value, 6) for name, value in probabilities.items()},
    )


def _reason_codes(label: str, context: dict, config, p_uncivil: float) -> list[str]:
    disagreement = context.get("disagreement") if isinstance(context.get("disagreement"), dict) else {}
    disagrees = disagreement.get("is_disagreement", 0.0) >= config.disagreement_at_or_above
    reasoned = disagrees and disagreement.get("reasoned", 0.0) >= config.reasoned_at_or_above
    insults = context.get("insult", 0.0) > 0
    codes: list[str] = []
    if label == "uncivil":
        if insults:
            codes.append("insult")
        if context.get("dismissive", 0.0) > 0:
            codes.append("dismissive")
            if context.get("newcomer_parent"):
                codes.append("dismissive_to_newcomer")
        if disagrees and not reasoned:
            codes.append("attack_on_disagreement")
        if not insults and context.get("sarcasm", 0.0) > 0:
            codes.append("sarcasm")
        if not codes:
            codes.append("uncivil_reply")
        return codes
    if reasoned:
        codes.append("reasoned_disagreement")
    if context.get("praise", 0.0) > 0:
        codes.append("praise")
    relevance = _probability(context, "parent_relevance")
    if relevance is not None and relevance >= config.on_topic_relevance_at_or_above:
        codes.append("on_topic_reply")
    if not insults and p_uncivil < config.civil_below:
        codes.append("civil")
    return codes
