"""who entered and approved an hours entry, by name

Revision ID: 3b9d7e2f4a18
Revises: 8a2f6c1d9e47
Create Date: 2026-12-03 19:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b9d7e2f4a18"
down_revision: str | Sequence[str] | None = "8a2f6c1d9e47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hours_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entered_by_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("approved_by_name", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hours_entries", schema=None) as batch_op:
        batch_op.drop_column("approved_by_name")
        batch_op.drop_column("entered_by_name")
