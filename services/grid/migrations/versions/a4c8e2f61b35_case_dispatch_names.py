"""whom a case went to, by name: its assignee and its unit

Revision ID: a4c8e2f61b35
Revises: e7b2c9d4a613
Create Date: 2026-12-03 19:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a4c8e2f61b35"
down_revision: str | Sequence[str] | None = "e7b2c9d4a613"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("assignee_name", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("dispatched_unit_name", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("dispatched_unit_name")
        batch.drop_column("assignee_name")
