"""Contests and entries remember the client's Idempotency-Key, so a retried create or post is
stored once (as judgements do since 0002).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("contests") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("request_sha256", sa.String(64), nullable=True))
        batch.create_unique_constraint(op.f("uq_contests_idempotency_key"), ["idempotency_key"])
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("request_sha256", sa.String(64), nullable=True))
        batch.create_unique_constraint(op.f("uq_entries_contest_id_idempotency_key"), ["contest_id", "idempotency_key"])


def downgrade() -> None:
    # Only the keys go (no contest or entry is lost): retries of old requests are then no longer recognised.
    with op.batch_alter_table("entries") as batch:
        batch.drop_constraint(op.f("uq_entries_contest_id_idempotency_key"), type_="unique")
        batch.drop_column("request_sha256")
        batch.drop_column("idempotency_key")
    with op.batch_alter_table("contests") as batch:
        batch.drop_constraint(op.f("uq_contests_idempotency_key"), type_="unique")
        batch.drop_column("request_sha256")
        batch.drop_column("idempotency_key")
