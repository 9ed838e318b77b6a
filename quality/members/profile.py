"""A member's profile as of a date: the four stages with figures and evidence, the suggested
tier with its reasons, and what the next tier still needs (CONTRACT.md `MemberProfile`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from quality.members.facts import ActivityFacts
from quality.members.history import History
from quality.members.schemas import (Evidence, MemberProfile, NextTier, ProfileVersions, Requirement, Stage,
                                     Stages, TierSuggestion)
from quality.members.tiers import TierJudge, requirement_value
from quality.rubric.config import Rubric
from quality.rubric.member_rules import TIER_LABELS, TIERS

_BAND_ZH = {"featured": "精选", "promising": "潜力", "ordinary": "普通", "low": "较弱"}
_KIND_ZH = {"guide": "指南攻略", "event": "组织活动", "rebuttal": "以证据辟谣", "mentoring": "持续帮助新人"}
# A like ring: far more likes than the distinct members and days they came from.
LIKE_RING_RATIO = 3.0
LIKE_RING_MIN = 10


def build_profile(member_id: str, facts: Sequence[ActivityFacts], rubric: Rubric, as_of: datetime,
                  current_tier: str | None, models_version: str) -> MemberProfile:
    history = History(facts, rubric.members)
    t = as_of.timestamp()
    judge = TierJudge(history, rubric.tiers, as_of.utcoffset().total_seconds())
    stages = judge.stages(t)
    decision = judge.suggest(t, current_tier)
    current = decision.held  # as given, or as climbed from the history before this look
    suggested = decision.tier
    needs_confirmation = suggested == "leading" and current != "leading"
    codes = list(decision.reason_codes)
    if needs_confirmation:
        codes.append("tier_needs_confirmation")
    reasons = [f"{rubric.reason_text(code, 'zh')}：{TIER_LABELS[suggested]}" if code != "tier_in_grace"
               else rubric.reason_text(code, "zh") for code in codes] + decision.details
    return MemberProfile(
        member_id=member_id,
        as_of=as_of,
        versions=ProfileVersions(models=models_version, rubric=rubric.version),
        stages=Stages(
            participation=Stage(score=stages["participation"].score, figures=stages["participation"].figures,
                                evidence=_participation_evidence(history, t)),
            creation=Stage(score=stages["creation"].score, figures=stages["creation"].figures,
                           evidence=_creation_evidence(history, t, rubric)),
            interaction=Stage(score=stages["interaction"].score, figures=stages["interaction"].figures,
                              evidence=_interaction_evidence(history, t, rubric)),
            initiative=Stage(score=stages["initiative"].score, figures=stages["initiative"].figures,
                             evidence=_initiative_evidence(history, t)),
        ),
        tier=TierSuggestion(suggested=suggested, label=TIER_LABELS[suggested], current=current,
                            needs_confirmation=needs_confirmation, reasons=reasons, reason_codes=codes),
        next_tier=_next_tier(judge, suggested, t),
        flags=_flags(stages),
    )


def _next_tier(judge: TierJudge, tier: str, t: float) -> NextTier:
    rank = TIERS.index(tier)
    if rank + 1 == len(TIERS):
        return NextTier(tier=None, requirements=[])
    following = TIERS[rank + 1]
    stages = judge.stages(t)
    requirements = []
    for requirement in judge.rules.rule(following).requirements:
        value = requirement_value(stages, requirement)
        requirements.append(Requirement(code=requirement.code, label=requirement.label, value=round(value, 4),
                                        required=requirement.required, met=requirement.met(value)))
    return NextTier(tier=following, requirements=requirements)


def _participation_evidence(history: History, t: float) -> list[Evidence]:
    events = [f for f in history.facts if f.kind == "event_attended" and f.t <= t][-5:]
    return [Evidence(activity=f.id, why="参加社区活动") for f in reversed(events)]


def _creation_evidence(history: History, t: float, rubric: Rubric) -> list[Evidence]:
    posts = sorted(history.window_facts("posts", t), key=lambda f: (-f.audition, -f.t))
    return [Evidence(activity=f.id, why=f"试镜 {f.audition:.1f}（{_BAND_ZH[f.band]}）")
            for f in posts[:rubric.members.creation.best_posts]]


def _interaction_evidence(history: History, t: float, rubric: Rubric) -> list[Evidence]:
    """Named replies, most telling first: uncivil ones, help to newcomers, reasoned disagreement,
    praise, and those waiting for a person -- newest first within each, a few of each."""
    replies = history.window_facts("replies", t)[::-1]
    limit = rubric.members.interaction.evidence_items
    groups = [
        ("不文明回复", lambda f: f.civility == "uncivil"),
        ("耐心帮助新人", lambda f: f.newcomer_parent and f.civility == "constructive"),
        ("有理有据地表达不同意见", lambda f: f.reasoned),
        ("以攻击代替讲理", lambda f: f.disagreement and not f.reasoned and f.civility == "uncivil"),
        ("称赞他人", lambda f: f.praise),
        ("待人工复核", lambda f: f.needs_review),
    ]
    evidence, seen = [], set()
    for why, test in groups:
        for fact in [f for f in replies if test(f) and f.id not in seen][:limit]:
            seen.add(fact.id)
            evidence.append(Evidence(activity=fact.id, why=why))
    return evidence


def _initiative_evidence(history: History, t: float) -> list[Evidence]:
    items = sorted(history.initiative_items(t), key=lambda item: (-item[2], -item[0].t))
    return [Evidence(activity=fact.id, kind=kind, confidence=confidence,
                     why=_KIND_ZH[kind] + (f"（{count} 次回复）" if kind == "mentoring" else ""))
            for fact, kind, confidence, count in items]


def _flags(stages) -> list[str]:
    flags = []
    interaction = stages["interaction"].figures
    if interaction["needs_review"]:
        flags.append("needs_review")
    if interaction["uncivil_share"] > 0.2 and interaction["replies"] >= 3:
        flags.append("often_uncivil")
    creation = stages["creation"].figures
    if creation["likes_received_raw"] >= LIKE_RING_MIN and creation["likes_received_raw"] >= LIKE_RING_RATIO * max(
            creation["likes_received"], 1):
        flags.append("likes_from_few_members")
    return flags
