"""The member layer: members' activities (keyed by the member's own activity id, so a retried
batch stores nothing twice) and each member's latest summary (suggested tier, stage scores).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "member_activities",
        sa.Column("member_id", sa.String(length=256), nullable=False),
        sa.Column("activity_id", sa.String(length=256), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("activity", sa.JSON(), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "activity_id", name=op.f("pk_member_activities")),
    )
    with op.batch_alter_table("member_activities") as batch_op:
        batch_op.create_index("ix_member_activities_member_id_at", ["member_id", "at"], unique=False)
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(length=256), nullable=False),
        sa.Column("suggested_tier", sa.String(length=16), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("activities", sa.Integer(), nullable=False),
        sa.Column("last_active", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_members")),
    )
    with op.batch_alter_table("members") as batch_op:
        batch_op.create_index("ix_members_suggested_tier_member_id", ["suggested_tier", "member_id"], unique=False)


def downgrade() -> None:
    # Dropping member_activities would delete what users stored: never done by a migration.
    raise RuntimeError("revision 0003 is not downgraded: it would drop every stored member activity; back the "
                       "database up and drop the member_activities and members tables by hand instead")
