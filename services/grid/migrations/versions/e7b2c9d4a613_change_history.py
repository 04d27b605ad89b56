"""the change history of every record, and names on case steps

Revision ID: e7b2c9d4a613
Revises: b5e1f7a3c2d8
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.migrations import create_history_table, drop_history_table

revision: str = "e7b2c9d4a613"
down_revision: str | Sequence[str] | None = "b5e1f7a3c2d8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_history_table()
    with op.batch_alter_table("case_events") as batch:
        batch.add_column(sa.Column("actor_name", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("actor_name")
    drop_history_table()
