"""Members keep the tier a person confirmed (who and when): the held tier the ladder starts from.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("confirmed_tier", sa.String(16), nullable=True))
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("confirmed_by", sa.String(64), nullable=True))


def downgrade() -> None:
    raise RuntimeError("revision 0006 is not downgraded: it would drop the tiers people confirmed; back the "
                       "database up and drop the members.confirmed_* columns by hand instead")
