"""A community export (one `MemberActivity` per JSON line) to one `MemberProfile` per member:
what `quality members` runs, on one machine or per group of members on Ray Data.

Each line is validated by pydantic-core straight from its bytes and reduced at once to its
facts (`quality.members.facts`), so a million pre-scored activities are held as small records,
not as nested models. Content that came without a score is kept and scored once, in batches,
through the same service as `/score`, when the profiles are built. An activity id seen again
for the same member is skipped (an export may repeat a line) and counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import TypeAdapter, ValidationError

from quality.errors import InvalidInput
from quality.members.facts import ActivityFacts, activity_facts
from quality.members.profile import build_profile
from quality.members.schemas import CONTENT_KINDS, MemberActivity, MemberProfile
from quality.rubric.config import Rubric

_LINE = TypeAdapter(MemberActivity)
SCORE_CHUNK = 64  # unscored content scored this many posts at a time


def parse_line(line: bytes | str, number: int) -> MemberActivity:
    """One export line; `InvalidInput` naming the line and the field otherwise."""
    try:
        return _LINE.validate_json(line)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"line {number}: {where}: {first['msg']}", field=where or None) from None


@dataclass
class Histories:
    """Facts per member, in the order read; activities still to be scored kept aside."""

    rubric: Rubric
    facts: dict[str, list[ActivityFacts]] = field(default_factory=lambda: defaultdict(list))
    unscored: dict[str, list[MemberActivity]] = field(default_factory=lambda: defaultdict(list))
    seen: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    repeated: int = 0
    read: int = 0

    def add(self, activity: MemberActivity) -> None:
        member = activity.member_id
        if activity.id in self.seen[member]:
            self.repeated += 1
            return
        self.seen[member].add(activity.id)
        self.read += 1
        if activity.kind in CONTENT_KINDS and activity.post is not None and activity.score is None:
            self.unscored[member].append(activity)
        else:
            self.facts[member].append(activity_facts(activity, activity.score, self.rubric))

    def add_lines(self, lines: Iterable[bytes | str], first_number: int = 1,
                  on_line: Callable[[], None] | None = None) -> None:
        for number, line in enumerate(lines, first_number):
            if line.strip():
                self.add(parse_line(line, number))
            if on_line is not None:
                on_line()

    @property
    def members(self) -> list[str]:
        return sorted(set(self.facts) | set(self.unscored))

    def unscored_count(self) -> int:
        return sum(len(activities) for activities in self.unscored.values())


def score_unscored(histories: Histories, service, on_scored: Callable[[int], None] | None = None) -> None:
    """Score every activity kept aside (in chunks, through `service.score_each`) and move its
    facts to its member. A post that fails its checks stops the run with its error, naming the
    member and activity."""
    from quality.members.scoring import as_activity_score

    pending = [(member, activity) for member in sorted(histories.unscored) for activity in histories.unscored[member]]
    for start in range(0, len(pending), SCORE_CHUNK):
        chunk = pending[start:start + SCORE_CHUNK]
        for (member, activity), outcome in zip(chunk, service.score_each([a.post for _, a in chunk])):
            if isinstance(outcome, Exception):
                raise InvalidInput(f"member {member!r}, activity {activity.id!r}: {outcome}",
                                   field=getattr(outcome, "field", None))
            histories.facts[member].append(activity_facts(activity, as_activity_score(outcome), histories.rubric))
        if on_scored is not None:
            on_scored(len(chunk))
    histories.unscored.clear()


def profiles(histories: Histories, as_of: datetime, models_version: str) -> Iterator[MemberProfile]:
    """One profile per member, by member id (every activity must be scored by now)."""
    if histories.unscored:
        raise RuntimeError("score_unscored first: some content has no score")
    for member in histories.members:
        yield build_profile(member, histories.facts[member], histories.rubric, as_of, None, models_version)
