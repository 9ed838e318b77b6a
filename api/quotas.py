"""Per-key budgets: a request rate with a burst (token bucket) and a daily post quota.

A key's entry in `QUALITY_API_KEYS` may end with its limits,
`sha256:<hex>:<scopes>:<name>:rate=20;burst=40;posts_per_day=100000` (`;` between limits: entries are
separated by commas) (`quality keys new --rate
20 --burst 40 --posts-per-day 100000` writes it). `rate` is requests per second (any route but
`/health`), refilled continuously up to `burst` (default: twice the rate, at least 1); the quota
counts posts scored per UTC day (`/score` 1, `/score/batch` its items, a contest entry 1,
member activities with content sent without a score). Past either: 429 `rate_limited` /
`quota_exceeded` with `Retry-After` and the contract's body. A key without limits has none.

The counters live in the serving process (one per `quality serve`; they restart with it): with
several processes or Ray replicas each enforces the budget on what it serves.
"""

from __future__ import annotations

import heapq
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

LIMIT_PATTERN = re.compile(r"(rate|burst|posts_per_day)=(\d+(?:\.\d+)?)")


class InvalidLimits(ValueError):
    pass


@dataclass(frozen=True)
class KeyLimits:
    rate: float | None = None  # requests per second
    burst: float | None = None  # bucket size; default max(1, 2 x rate)
    posts_per_day: int | None = None  # posts scored per UTC day

    @classmethod
    def parse(cls, text: str | None) -> KeyLimits:
        """`rate=20;burst=40;posts_per_day=100000` (any of them, in any order); '' = no limits."""
        if not text:
            return cls()
        values: dict[str, float] = {}
        for part in text.split(";"):
            match = LIMIT_PATTERN.fullmatch(part.strip())
            if not match or match.group(1) in values:
                raise InvalidLimits(f"limits are 'rate=<per second>;burst=<n>;posts_per_day=<n>', not {text!r}")
            values[match.group(1)] = float(match.group(2))
        if any(v <= 0 for v in values.values()):
            raise InvalidLimits("limits must be positive")
        if "burst" in values and "rate" not in values:
            raise InvalidLimits("a burst needs a rate")
        per_day = values.get("posts_per_day")
        return cls(rate=values.get("rate"), burst=values.get("burst"),
                   posts_per_day=int(per_day) if per_day is not None else None)

    def text(self) -> str:
        parts = [f"rate={self.rate:g}"] if self.rate is not None else []
        parts += [f"burst={self.burst:g}"] if self.burst is not None else []
        parts += [f"posts_per_day={self.posts_per_day}"] if self.posts_per_day is not None else []
        return ";".join(parts)

    @property
    def bucket(self) -> float:
        return self.burst if self.burst is not None else max(1.0, 2.0 * (self.rate or 0.0))


class Budgets:
    """The token buckets and daily post counts of every key, by key name (thread-safe).

    Names are key names, or client addresses when serving without keys (api.auth), which a
    scanner can make many of: past `max_tracked` entries, the ones that say nothing are dropped
    (a bucket that has refilled is the same as none; a count from an earlier day is zero), and if
    that is not enough, the buckets nearest to full and today's smallest post counts, down to half
    the bound (those callers start again from a full bucket or zero: lenient to them, never
    stricter)."""

    def __init__(self, clock=time.monotonic, today=lambda: datetime.now(UTC), max_tracked: int = 100_000):
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float, float]] = {}  # name -> (tokens, at, full again at)
        self._posts: dict[str, tuple[str, int]] = {}  # name -> (UTC day, posts)
        self._clock = clock
        self._today = today
        self.max_tracked = max_tracked

    def tracked(self) -> int:
        with self._lock:
            return len(self._buckets) + len(self._posts)

    def _forget_idle(self, now: float, day: str) -> None:
        """Called with the lock held when a table is over `max_tracked`."""
        if len(self._buckets) > self.max_tracked:
            self._buckets = {name: entry for name, entry in self._buckets.items() if entry[2] > now}
        if len(self._buckets) > self.max_tracked:
            kept = heapq.nlargest(self.max_tracked // 2, self._buckets.items(), key=lambda item: item[1][2])
            self._buckets = dict(kept)
        if len(self._posts) > self.max_tracked:
            self._posts = {name: entry for name, entry in self._posts.items() if entry[0] == day}
        if len(self._posts) > self.max_tracked:  # today's smallest counts go first
            self._posts = dict(heapq.nlargest(self.max_tracked // 2, self._posts.items(), key=lambda item: item[1][1]))

    def take_request(self, name: str, limits: KeyLimits) -> float | None:
        """None if the key may make a request now (one token taken); else seconds until it may."""
        if limits.rate is None:
            return None
        now = self._clock()
        with self._lock:
            tokens, at, _ = self._buckets.get(name, (limits.bucket, now, now))
            tokens = min(limits.bucket, tokens + (now - at) * limits.rate)
            wait = None if tokens >= 1.0 else (1.0 - tokens) / limits.rate
            tokens -= 1.0 if wait is None else 0.0
            self._buckets[name] = (tokens, now, now + (limits.bucket - tokens) / limits.rate)
            if len(self._buckets) > self.max_tracked:
                self._forget_idle(now, self._today().strftime("%Y-%m-%d"))
            return wait

    def charge_posts(self, name: str, limits: KeyLimits, posts: int) -> float | None:
        """None if the key may score `posts` more today (they are counted); else seconds until the
        next UTC day. A request over the quota is refused whole and counts nothing."""
        if limits.posts_per_day is None or posts <= 0:
            return None
        now = self._today()
        day = now.strftime("%Y-%m-%d")
        with self._lock:
            counted_day, used = self._posts.get(name, (day, 0))
            if counted_day != day:
                used = 0
            if used + posts > limits.posts_per_day:
                midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
                return max(1.0, (midnight - now).total_seconds())
            self._posts[name] = (day, used + posts)
            if len(self._posts) > self.max_tracked:
                self._forget_idle(self._clock(), day)
            return None

    def posts_today(self, name: str) -> int:
        with self._lock:
            day, used = self._posts.get(name, ("", 0))
            return used if day == self._today().strftime("%Y-%m-%d") else 0


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
