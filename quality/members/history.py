"""A member's history as arrays, and the four stages' figures and scores as of any moment.

`History` sorts the facts once and keeps, per stream (own actions, posts, replies, likes
received), the times and running sums; the figures for a window are then a few binary searches
and differences, so the tier rules can look at the member as of many dates (the grace period,
the replay of the ladder) for little more than the cost of one look. The formulas and their
constants are in the rubric file's `members` section; docs/members.md explains them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quality.members.facts import INITIATIVE_KINDS, SECONDS_PER_DAY, ActivityFacts
from quality.rubric.member_rules import MemberRules


@dataclass(frozen=True)
class StageFigures:
    score: float
    figures: dict[str, float | int | None]


def _prefix(values: np.ndarray) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))


def _clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def _volume(count: float, half: float) -> float:
    return 1.0 - 0.5 ** (count / half)


class _Stream:
    """Facts of one kind in time order, with running sums of named columns."""

    def __init__(self, facts: list[ActivityFacts], columns: dict[str, list[float]]):
        self.facts = facts
        self.t = np.array([f.t for f in facts], dtype=np.float64)
        self.sums = {name: _prefix(np.asarray(values, dtype=np.float64)) for name, values in columns.items()}

    def bounds(self, start: float, end: float) -> tuple[int, int]:
        """Indices of the facts with start < t <= end."""
        return int(np.searchsorted(self.t, start, side="right")), int(np.searchsorted(self.t, end, side="right"))

    def total(self, name: str, lo: int, hi: int) -> float:
        sums = self.sums[name]
        return float(sums[hi] - sums[lo])


class History:
    def __init__(self, facts: Sequence[ActivityFacts], rules: MemberRules):
        self.rules = rules
        self.facts = sorted(facts, key=lambda f: (f.t, f.id))
        own = [f for f in self.facts if f.own]
        self.own = _Stream(own, {})
        self.own_day = np.array([f.day for f in own], dtype=np.int64)
        posts = [f for f in self.facts if f.is_post]
        self.posts = _Stream(posts, {"audition": [f.audition for f in posts],
                                     "promising": [f.promising for f in posts]})
        self.post_audition = np.array([f.audition for f in posts], dtype=np.float64)
        replies = [f for f in self.facts if f.is_reply]
        self.replies = _Stream(replies, {
            "score": [f.civility_score for f in replies],
            "constructive": [f.civility == "constructive" for f in replies],
            "uncivil": [f.civility == "uncivil" for f in replies],
            "newcomer_help": [_helps_newcomer(f) for f in replies],
            "praise": [f.praise for f in replies],
            "disagreement": [f.disagreement for f in replies],
            "reasoned": [f.reasoned for f in replies],
            "needs_review": [f.needs_review for f in replies],
        })
        likes = [f for f in self.facts if f.kind == "like_received"]
        self.likes = _Stream(likes, {})
        members = {name: code for code, name in enumerate(sorted({f.other_member or "" for f in likes}))}
        self.like_member = np.array([members[f.other_member or ""] for f in likes], dtype=np.int64)
        self.like_named = np.array([bool(f.other_member) for f in likes], dtype=bool)
        self.like_day = np.array([f.day for f in likes], dtype=np.int64)
        initiative = self._initiative_posts(posts)
        self.initiative = _Stream(initiative, {"confidence": [f.post_kind_probability for f in initiative]})
        mentoring = [f for f in replies if _helps_newcomer(f) and not f.prompted]
        self.mentoring = _Stream(mentoring, {})
        self.mentoring_week = np.array([f.day // 7 for f in mentoring], dtype=np.int64)

    def _initiative_posts(self, posts: list[ActivityFacts]) -> list[ActivityFacts]:
        rules = self.rules.initiative
        return [f for f in posts if not f.prompted and f.post_kind in INITIATIVE_KINDS
                and f.post_kind_probability >= rules.min_kind_probability
                and (f.post_kind not in rules.audition_gated or f.audition >= rules.min_audition)]

    @property
    def first_t(self) -> float | None:
        return self.facts[0].t if self.facts else None

    # -- the four stages as of `t` (seconds since the epoch) -------------------------------------

    def stages_at(self, t: float, day: int) -> dict[str, StageFigures]:
        """Every stage's score and figures as of `t`; `day` is t's local calendar day."""
        return {"participation": self.participation(t, day), "creation": self.creation(t),
                "interaction": self.interaction(t), "initiative": self.initiative_stage(t)}

    def participation(self, t: float, day: int) -> StageFigures:
        windows, rules = self.rules.windows, self.rules.participation
        lo_short, hi = self.own.bounds(t - windows.short_days * SECONDS_PER_DAY, t)
        lo_long, _ = self.own.bounds(t - windows.long_days * SECONDS_PER_DAY, t)
        days_short = np.unique(self.own_day[lo_short:hi])
        days_long = np.unique(self.own_day[lo_long:hi])
        longest, current = _streaks(days_long, day)
        score = (rules.short_weight * min(1.0, days_short.size / rules.active_days_short_target)
                 + (1 - rules.short_weight) * min(1.0, days_long.size / rules.active_days_long_target))
        return StageFigures(_clip01(score), {
            "active_days_30": int(days_short.size), "active_days_100": int(days_long.size),
            "interactions_100": hi - lo_long, "longest_streak_100": longest, "current_streak": current})

    def creation(self, t: float) -> StageFigures:
        rules = self.rules.creation
        start = t - self.rules.windows.history_days * SECONDS_PER_DAY
        lo, hi = self.posts.bounds(start, t)
        n = hi - lo
        total = self.posts.total("audition", lo, hi)
        shrunk = (total + rules.prior_posts * rules.community_mean) / (n + rules.prior_posts) if (
            n + rules.prior_posts) > 0 else rules.community_mean
        trend = None
        if n >= 2 * rules.trend_posts:
            recent = self.post_audition[hi - rules.trend_posts:hi].mean()
            before = self.post_audition[hi - 2 * rules.trend_posts:hi - rules.trend_posts].mean()
            trend = round(float(recent - before), 2)
        likes, likes_raw = self._likes(start, t)
        quality = (shrunk - rules.audition_floor) / (rules.audition_ceiling - rules.audition_floor)
        return StageFigures(_clip01(_clip01(quality) * _volume(n, rules.posts_half)), {
            "posts": n,
            "audition_mean": round(total / n, 2) if n else None,
            "audition_shrunk": round(shrunk, 2) if n else None,  # no posts: nothing to judge
            "share_promising_or_better": round(self.posts.total("promising", lo, hi) / n, 4) if n else 0.0,
            "trend": trend,
            "likes_received": likes,
            "likes_received_raw": likes_raw,
        })

    def _likes(self, start: float, t: float) -> tuple[int, int]:
        """Likes received that count: the smaller of the number of distinct members who liked
        and the number of distinct days they did, so one friend liking every day, or many on one
        day, count once. A like that does not name its member is not counted. Also the raw count."""
        lo, hi = self.likes.bounds(start, t)
        named = self.like_named[lo:hi]
        members = np.unique(self.like_member[lo:hi][named]).size
        days = np.unique(self.like_day[lo:hi][named]).size
        return int(min(members, days)), hi - lo

    def interaction(self, t: float) -> StageFigures:
        rules = self.rules.interaction
        lo, hi = self.replies.bounds(t - self.rules.windows.history_days * SECONDS_PER_DAY, t)
        n = hi - lo
        total = {name: self.replies.total(name, lo, hi) for name in self.replies.sums}
        uncivil_share = total["uncivil"] / n if n else 0.0
        mean = (total["score"] + 0.5 * rules.prior_replies) / (n + rules.prior_replies) if (
            n + rules.prior_replies) > 0 else 0.5
        quality = (mean - rules.uncivil_penalty * uncivil_share
                   + rules.help_bonus * min(1.0, total["newcomer_help"] / rules.bonus_full_at)
                   + rules.praise_bonus * min(1.0, total["praise"] / rules.bonus_full_at))
        disagreements = int(total["disagreement"])
        return StageFigures(_clip01(_clip01(quality) * _volume(n, rules.replies_half)), {
            "replies": n,
            "constructive_share": round(total["constructive"] / n, 4) if n else 0.0,
            "uncivil_share": round(uncivil_share, 4),
            "newcomer_help": int(total["newcomer_help"]),
            "praise_given": int(total["praise"]),
            "disagreements": disagreements,
            "reasoned_disagreement_share": round(total["reasoned"] / disagreements, 4) if disagreements else None,
            "needs_review": int(total["needs_review"]),
        })

    def initiative_stage(self, t: float) -> StageFigures:
        items = self.initiative_items(t)
        counts = {kind: sum(1 for item in items if item[1] == kind) for kind in (*INITIATIVE_KINDS, "mentoring")}
        confidence = sum(item[2] for item in items)
        return StageFigures(_clip01(_volume(confidence, self.rules.initiative.score_half)), {
            "unprompted": len(items), "guides": counts["guide"], "events": counts["event"],
            "rebuttals": counts["rebuttal"], "mentoring": counts["mentoring"]})

    def initiative_items(self, t: float) -> list[tuple[ActivityFacts, str, float, int]]:
        """(activity, kind, confidence, supporting replies) of each unprompted contribution in the
        window: guide / event / rebuttal posts, and one `mentoring` item for constructive replies
        to newcomers kept up over weeks (named by the latest of them)."""
        rules = self.rules.initiative
        start = t - self.rules.windows.history_days * SECONDS_PER_DAY
        lo, hi = self.initiative.bounds(start, t)
        items = [(f, f.post_kind, round(f.post_kind_probability, 4), 1) for f in self.initiative.facts[lo:hi]]
        lo, hi = self.mentoring.bounds(start, t)
        weeks = np.unique(self.mentoring_week[lo:hi]).size
        if hi - lo >= rules.mentoring_replies and weeks >= rules.mentoring_weeks:
            confidence = min(1.0, (hi - lo) / (2 * rules.mentoring_replies))
            items.append((self.mentoring.facts[hi - 1], "mentoring", round(confidence, 4), hi - lo))
        return items

    def window_facts(self, stream: str, t: float) -> list[ActivityFacts]:
        """The facts of one stream (posts, replies) in the history window ending at `t`."""
        chosen: _Stream = getattr(self, stream)
        lo, hi = chosen.bounds(t - self.rules.windows.history_days * SECONDS_PER_DAY, t)
        return chosen.facts[lo:hi]


def _helps_newcomer(fact: ActivityFacts) -> bool:
    return fact.newcomer_parent and fact.civility == "constructive"


def _streaks(days: np.ndarray, today: int) -> tuple[int, int]:
    """Longest run of consecutive active days, and the run that ends today or yesterday."""
    if days.size == 0:
        return 0, 0
    breaks = np.flatnonzero(np.diff(days) != 1)
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [days.size - 1]))
    lengths = ends - starts + 1
    current = int(lengths[-1]) if days[-1] >= today - 1 else 0
    return int(lengths.max()), current

