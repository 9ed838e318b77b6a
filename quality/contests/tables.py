"""The store's tables (SQLAlchemy 2 declarative): contests, entries, entry_images, judgements, and the
member layer's member_activities and members (one database for both, one migration history).

Types are the portable ones (JSON, LargeBinary, timezone-aware DateTime) so one model serves
SQLite and PostgreSQL. Any change here needs an Alembic migration under `migrations/versions/`
(a test compares the migrated schema with this metadata).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names on every backend: Alembic's batch mode (SQLite) and later
# migrations need names to find a constraint again.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 32  # uuid4 hex
IDEMPOTENCY_KEY_LENGTH = 128


def new_id() -> str:
    """A fresh row id: 32 hex characters (uuid4)."""
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend.

    SQLite keeps no offset and hands back naive values; they are stored as UTC and read back
    with `tzinfo=UTC`. Naive datetimes are refused on the way in (they would be ambiguous).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give a timezone-aware one")
        value = value.astimezone(UTC)
        # SQLite stores the text form; without an offset every value sorts as UTC.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ContestRow(Base):
    __tablename__ = "contests"
    # A client's Idempotency-Key names one contest (a retried create finds it again).
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    theme: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH))
    request_sha256: Mapped[str | None] = mapped_column(String(64))


class EntryRow(Base):
    """A stored, scored post. `result` is the ScoreResult as a JSON object."""

    __tablename__ = "entries"
    __table_args__ = (
        # The target of judgements' (contest_id, entry) foreign keys: a vote can only name
        # entries of its own contest.
        UniqueConstraint("contest_id", "id"),
        Index("ix_entries_contest_id_created_at", "contest_id", "created_at"),
        Index("ix_entries_contest_id_text_sha256", "contest_id", "text_sha256"),
        # A client's Idempotency-Key names one entry per contest (a retried post finds it again).
        UniqueConstraint("contest_id", "idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    contest_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("contests.id"))
    client_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    parent_text: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict] = mapped_column(JSON)
    model_version: Mapped[str] = mapped_column(Text)
    rubric_version: Mapped[str] = mapped_column(Text)
    audition_score: Mapped[float] = mapped_column(Float)
    flags: Mapped[list] = mapped_column(JSON)
    duplicate_of: Mapped[list] = mapped_column(JSON)
    text_embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # little-endian float32
    text_sha256: Mapped[str | None] = mapped_column(String(64))  # of the normalised text
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH))
    request_sha256: Mapped[str | None] = mapped_column(String(64))  # of the post sent with that key


class EntryImageRow(Base):
    """One photo of an entry: its perceptual hash, size and a JPEG thumbnail (no original)."""

    __tablename__ = "entry_images"

    entry_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("entries.id"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    phash: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    thumbnail: Mapped[bytes] = mapped_column(LargeBinary)


class JudgementRow(Base):
    """A judge's vote: a pairwise preference (winner over loser) or a direct score (0-100)."""

    __tablename__ = "judgements"
    __table_args__ = (
        CheckConstraint("kind IN ('pair', 'score')", name="kind"),
        CheckConstraint(
            "(kind = 'pair' AND winner_id IS NOT NULL AND loser_id IS NOT NULL AND winner_id <> loser_id"
            " AND entry_id IS NULL AND score IS NULL)"
            " OR (kind = 'score' AND entry_id IS NOT NULL AND score IS NOT NULL AND score >= 0 AND score <= 100"
            " AND winner_id IS NULL AND loser_id IS NULL)",
            name="fields_match_kind",
        ),
        # Composite keys: the entries named must belong to this judgement's contest.
        ForeignKeyConstraint(["contest_id", "winner_id"], ["entries.contest_id", "entries.id"]),
        ForeignKeyConstraint(["contest_id", "loser_id"], ["entries.contest_id", "entries.id"]),
        ForeignKeyConstraint(["contest_id", "entry_id"], ["entries.contest_id", "entries.id"]),
        Index("ix_judgements_contest_id_created_at", "contest_id", "created_at"),
        # A client's Idempotency-Key names one judgement per contest (a retry finds it again).
        UniqueConstraint("contest_id", "idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    contest_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("contests.id"))
    judge: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8))
    winner_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    loser_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    entry_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The client's Idempotency-Key header, and the sha256 of what it sent with it (to refuse the
    # same key with another judgement).
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH))
    request_sha256: Mapped[str | None] = mapped_column(String(64))


MEMBER_KEY_LENGTH = 256  # member ids and activity ids, as the community gives them


class MemberActivityRow(Base):
    """One acknowledged activity of a member, as sent, with the score its content got (so history
    is never scored again). The key is the member's own activity id: a retried batch stores
    nothing twice."""

    __tablename__ = "member_activities"
    __table_args__ = (Index("ix_member_activities_member_id_at", "member_id", "at"),)

    member_id: Mapped[str] = mapped_column(String(MEMBER_KEY_LENGTH), primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(MEMBER_KEY_LENGTH), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    activity: Mapped[dict] = mapped_column(JSON)  # the Activity, its score filled in
    request_sha256: Mapped[str] = mapped_column(String(64))  # of the activity as sent
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MemberRow(Base):
    """A member's latest summary, refreshed when activities are stored: what `GET /members`
    lists and filters on without reading every history."""

    __tablename__ = "members"
    __table_args__ = (Index("ix_members_suggested_tier_member_id", "suggested_tier", "member_id"),)

    member_id: Mapped[str] = mapped_column(String(MEMBER_KEY_LENGTH), primary_key=True)
    suggested_tier: Mapped[str] = mapped_column(String(16))
    stages: Mapped[dict] = mapped_column(JSON)
    activities: Mapped[int] = mapped_column(Integer)
    last_active: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The tier a person confirmed (an operator, POST /members/{id}/tier): the member's held tier.
    confirmed_tier: Mapped[str | None] = mapped_column(String(16))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_by: Mapped[str | None] = mapped_column(String(64))


class AuditRow(Base):
    """One write by a judge, an operator or a pipeline, as it was acknowledged: append-only (no
    code path updates or deletes a row; `quality.contests.audit`)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_name: Mapped[str | None] = mapped_column(String(64))  # the API key's name; null without keys
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(200))  # the route template, e.g. /contests/{contest_id}/entries
    target: Mapped[str] = mapped_column(String(MEMBER_KEY_LENGTH))  # what was written: contest, entry, member id
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_LENGTH))
    detail: Mapped[dict | None] = mapped_column(JSON)  # e.g. {"replayed": true} or {"stored": 3}
