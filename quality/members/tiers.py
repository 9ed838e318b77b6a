"""The suggested tier: the ladder's rules (rubric file, `tiers`) applied to a member's history.

Stable by construction: up one tier when every requirement of the next one holds; down one only
when a requirement of the held tier has been below `below_fraction` of its threshold at every
check of the grace period; never more than one step per look. Without a current tier the ladder
is climbed from basic over the last `replay_days`, one look per `replay_every_days`, by the same
rules, so the answer does not jump because one day's figures do. `leading` is only suggested:
`needs_confirmation` until a person has confirmed it (current tier leading).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quality.members.facts import SECONDS_PER_DAY
from quality.members.history import History, StageFigures
from quality.rubric.member_rules import TIERS, TierRequirement, TierRules


def requirement_value(stages: dict[str, StageFigures], requirement: TierRequirement) -> float:
    stage, _, name = requirement.figure.partition(".")
    figures = stages[stage]
    value = figures.score if name == "score" else figures.figures.get(name)
    return float(value) if value is not None else 0.0


@dataclass
class TierDecision:
    tier: str
    reason_codes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # which requirement, with its value
    held: str | None = None  # the tier held before this look (replayed when not given)


class TierJudge:
    """Looks at one history as of many dates; each date's figures are computed once."""

    def __init__(self, history: History, rules: TierRules, utc_offset_s: float):
        self.history = history
        self.rules = rules
        self.offset = utc_offset_s
        self._stages: dict[float, dict[str, StageFigures]] = {}

    def stages(self, t: float) -> dict[str, StageFigures]:
        if t not in self._stages:
            self._stages[t] = self.history.stages_at(t, int((t + self.offset) // SECONDS_PER_DAY))
        return self._stages[t]

    def unmet(self, tier: str, t: float) -> list[tuple[TierRequirement, float]]:
        rule = self.rules.rule(tier)
        stages = self.stages(t)
        return [] if rule is None else [(r, v) for r in rule.requirements
                                        if not r.met(v := requirement_value(stages, r))]

    def step(self, held: str, t: float) -> TierDecision:
        """One look at `t` by a member holding `held`."""
        rank = TIERS.index(held)
        if rank + 1 < len(TIERS) and not self.unmet(TIERS[rank + 1], t):
            return TierDecision(TIERS[rank + 1], ["tier_promoted"])
        if held == "basic":
            return TierDecision(held, ["tier_kept"])
        demotion = self.rules.demotion
        now = self._lapsed(held, t)
        if not now:
            return TierDecision(held, ["tier_kept"])
        checks = [t - days * SECONDS_PER_DAY
                  for days in (*range(demotion.check_every_days, demotion.grace_days, demotion.check_every_days),
                               demotion.grace_days)] if demotion.grace_days > 0 else []
        lasting = set(now)  # lapsed at every check of the grace period
        for check in checks:
            lasting &= self._lapsed(held, check)
        stages = self.stages(t)
        requirements = self.rules.rule(held).requirements
        if lasting:
            return TierDecision(TIERS[TIERS.index(held) - 1], ["tier_demoted"],
                                [self._describe(r, requirement_value(stages, r)) for r in requirements if r.code in lasting])
        return TierDecision(held, ["tier_in_grace"],
                            [self._describe(r, requirement_value(stages, r)) for r in requirements if r.code in now])

    def _lapsed(self, tier: str, t: float) -> set[str]:
        """Codes of `tier`'s requirements below below_fraction of their thresholds at `t`."""
        fraction = self.rules.demotion.below_fraction
        stages = self.stages(t)
        return {r.code for r in self.rules.rule(tier).requirements
                if r.far_below(requirement_value(stages, r), fraction)}

    @staticmethod
    def _describe(requirement: TierRequirement, value: float) -> str:
        sign = "≥" if requirement.at_least is not None else "≤"
        return f"{requirement.label} {value:g}（要求 {sign} {requirement.required:g}）"

    def suggest(self, as_of: float, current: str | None) -> TierDecision:
        if current is not None:
            decision = self.step(current, as_of)
            decision.held = current
            return decision
        held = "basic"
        every = self.rules.replay_every_days * SECONDS_PER_DAY
        first = self.history.first_t
        start = max(first if first is not None else as_of, as_of - self.rules.replay_days * SECONDS_PER_DAY)
        looks = int((as_of - start) // every)
        for k in range(looks, 0, -1):
            # Leading is never held without a person's confirmation: the climb stops at core.
            held = min(self.step(held, as_of - k * every).tier, "core", key=TIERS.index)
        decision = self.step(held, as_of)
        decision.held = held
        decision.reason_codes.append("tier_replayed")
        return decision
