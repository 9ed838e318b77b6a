"""Contests, entries, their images and judges' votes.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "contests",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("theme", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contests")),
    )
    op.create_table(
        "entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("contest_id", ID, nullable=False),
        sa.Column("client_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("parent_text", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("rubric_version", sa.Text(), nullable=False),
        sa.Column("audition_score", sa.Float(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("duplicate_of", sa.JSON(), nullable=False),
        sa.Column("text_embedding", sa.LargeBinary(), nullable=True),
        sa.Column("text_sha256", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["contest_id"], ["contests.id"], name=op.f("fk_entries_contest_id_contests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
        sa.UniqueConstraint("contest_id", "id", name=op.f("uq_entries_contest_id_id")),
    )
    op.create_index("ix_entries_contest_id_created_at", "entries", ["contest_id", "created_at"])
    op.create_index("ix_entries_contest_id_text_sha256", "entries", ["contest_id", "text_sha256"])
    op.create_table(
        "entry_images",
        sa.Column("entry_id", ID, nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("phash", sa.String(64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"], name=op.f("fk_entry_images_entry_id_entries")),
        sa.PrimaryKeyConstraint("entry_id", "index", name=op.f("pk_entry_images")),
    )
    op.create_table(
        "judgements",
        sa.Column("id", ID, nullable=False),
        sa.Column("contest_id", ID, nullable=False),
        sa.Column("judge", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("winner_id", ID, nullable=True),
        sa.Column("loser_id", ID, nullable=True),
        sa.Column("entry_id", ID, nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('pair', 'score')", name=op.f("ck_judgements_kind")),
        sa.CheckConstraint(
            "(kind = 'pair' AND winner_id IS NOT NULL AND loser_id IS NOT NULL AND winner_id <> loser_id"
            " AND entry_id IS NULL AND score IS NULL)"
            " OR (kind = 'score' AND entry_id IS NOT NULL AND score IS NOT NULL AND score >= 0 AND score <= 100"
            " AND winner_id IS NULL AND loser_id IS NULL)",
            name=op.f("ck_judgements_fields_match_kind"),
        ),
        sa.ForeignKeyConstraint(["contest_id"], ["contests.id"], name=op.f("fk_judgements_contest_id_contests")),
        sa.ForeignKeyConstraint(["contest_id", "winner_id"], ["entries.contest_id", "entries.id"],
                                name=op.f("fk_judgements_contest_id_winner_id_entries")),
        sa.ForeignKeyConstraint(["contest_id", "loser_id"], ["entries.contest_id", "entries.id"],
                                name=op.f("fk_judgements_contest_id_loser_id_entries")),
        sa.ForeignKeyConstraint(["contest_id", "entry_id"], ["entries.contest_id", "entries.id"],
                                name=op.f("fk_judgements_contest_id_entry_id_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judgements")),
    )
    op.create_index("ix_judgements_contest_id_created_at", "judgements", ["contest_id", "created_at"])


def downgrade() -> None:
    # Dropping these tables would delete what users stored: never done by a migration.
    raise RuntimeError("the contest store's first revision is not downgraded: it would drop every "
                       "contest, entry and judgement; back the database up and remove it by hand instead")
