"""The member store: members' activities and their latest summaries, in the contest store's
database (SQLite by default, PostgreSQL by URL; one Alembic history, `quality.contests.db`).

Activities are keyed by (member, the member's own activity id). Storing is idempotent: an
activity already stored with the same content is counted as `already_stored` and left as it
is; the same id with other content is refused (422 `activity_id_reused`), so nothing stored is
ever overwritten. A write returns only after its commit (WAL, synchronous=FULL on SQLite):
an acknowledged activity survives a SIGKILL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from quality.contests.db import Store
from quality.contests.tables import MemberActivityRow, MemberRow, utc_now
from quality.errors import InvalidInput, NotFound
from quality.members.schemas import Activity, MemberProfile

MAX_PAGE = 500


def content_sha256(activity: Activity) -> str:
    """What makes two sends of an activity the same: everything but the score (a retry may
    carry the score the first send did not)."""
    return hashlib.sha256(activity.model_dump_json(exclude={"score"}).encode()).hexdigest()


class MemberStore(Store):
    """Members' activities and summaries (see module docstring)."""

    # --- activities ---------------------------------------------------------------------------

    def known(self, member_id: str, activities: Sequence[Activity], field: str = "activities") -> set[int]:
        """Positions of the activities already stored with the same content; `InvalidInput`
        (activity_id_reused) for one stored with other content."""
        with self._read.begin() as session:
            stored = _stored_shas(session, member_id, [a.id for a in activities])
        return _matching(stored, activities, [content_sha256(a) for a in activities], field)

    def add(self, member_id: str, activities: Sequence[Activity], field: str = "activities") -> tuple[int, int]:
        """Store the activities not stored yet, in one transaction: (stored, already_stored)."""
        now = utc_now()
        shas = [content_sha256(activity) for activity in activities]
        rows = [MemberActivityRow(member_id=member_id, activity_id=activity.id, at=activity.at, kind=activity.kind,
                                  activity=activity.model_dump(mode="json"), request_sha256=sha, stored_at=now)
                for activity, sha in zip(activities, shas)]
        for _attempt in range(2):
            try:
                with self._write.begin() as session:
                    stored = _stored_shas(session, member_id, [a.id for a in activities])
                    already = _matching(stored, activities, shas, field)
                    session.add_all(row for i, row in enumerate(rows) if i not in already)
                return len(rows) - len(already), len(already)
            except IntegrityError:
                continue  # another request stored some of them first (PostgreSQL): look again
        raise InvalidInput("the activities were being stored by another request at the same time; retry",
                           field=field, code="conflict")

    def activities(self, member_id: str) -> list[Activity]:
        """The member's stored activities in time order (empty for an unknown member)."""
        with self._read.begin() as session:
            payloads = session.scalars(select(MemberActivityRow.activity)
                                       .where(MemberActivityRow.member_id == member_id)
                                       .order_by(MemberActivityRow.at, MemberActivityRow.activity_id)).all()
        return [Activity.model_validate(payload) for payload in payloads]

    def count(self, member_id: str) -> int:
        with self._read.begin() as session:
            return session.scalar(select(func.count()).select_from(MemberActivityRow)
                                  .where(MemberActivityRow.member_id == member_id))

    # --- summaries ----------------------------------------------------------------------------

    def confirmed_tier(self, member_id: str) -> str | None:
        """The tier a person confirmed for the member (None: none yet)."""
        with self._read.begin() as session:
            row = session.get(MemberRow, member_id)
            return row.confirmed_tier if row is not None else None

    def confirm_tier(self, member_id: str, tier: str, by: str | None) -> None:
        """Record the tier a person confirmed; committed on return. The summary row must exist (a
        member with stored activities): `NotFound` otherwise."""
        with self._write.begin() as session:
            row = session.get(MemberRow, member_id)
            if row is None:
                raise NotFound(f"no activities are stored for member {member_id!r}", field="member_id")
            row.confirmed_tier, row.confirmed_at, row.confirmed_by = tier, utc_now(), by

    def save_summary(self, profile: MemberProfile, activities: int, last_active: datetime | None) -> None:
        with self._write.begin() as session:
            row = session.get(MemberRow, profile.member_id) or MemberRow(member_id=profile.member_id)
            row.suggested_tier = profile.tier.suggested
            row.stages = {name: stage.score for name, stage in profile.stages}
            row.activities = activities
            row.last_active = last_active
            row.updated_at = utc_now()
            session.add(row)

    def summaries(self, tier: str | None, limit: int, cursor: str | None) -> tuple[list[MemberRow], str | None]:
        """Members by id after `cursor`, optionally of one suggested tier; and the next cursor."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be within 1-{MAX_PAGE}", field="limit")
        query = select(MemberRow).order_by(MemberRow.member_id).limit(limit + 1)
        if tier is not None:
            query = query.where(MemberRow.suggested_tier == tier)
        if cursor:
            query = query.where(MemberRow.member_id > cursor)
        with self._read.begin() as session:
            rows = list(session.scalars(query).all())
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1].member_id if more and rows else None)


def _stored_shas(session, member_id: str, ids: list[str]) -> dict[str, str]:
    """Activity id -> content sha256 of those of `ids` the member has stored."""
    return dict(session.execute(select(MemberActivityRow.activity_id, MemberActivityRow.request_sha256)
                                .where(MemberActivityRow.member_id == member_id,
                                       MemberActivityRow.activity_id.in_(ids))).all())


def _matching(stored: dict[str, str], activities: Sequence[Activity], shas: Sequence[str], field: str) -> set[int]:
    """Positions of the activities stored with the same content (`shas`: theirs, in order);
    `InvalidInput` (activity_id_reused) for one stored with other content."""
    already = set()
    for i, (activity, sha) in enumerate(zip(activities, shas)):
        earlier = stored.get(activity.id)
        if earlier is None:
            continue
        if earlier != sha:
            raise InvalidInput(f"activity {activity.id!r} is already stored with other content; an activity id "
                               "names one activity for good", field=f"{field}[{i}].id", code="activity_id_reused")
        already.add(i)
    return already
