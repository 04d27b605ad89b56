"""the change history of every record, and names on application steps

Revision ID: f2c6a8e0b415
Revises: 5c1e0a7b9d21
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.migrations import create_history_table, drop_history_table

revision: str = "f2c6a8e0b415"
down_revision: str | Sequence[str] | None = "5c1e0a7b9d21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_history_table()
    with op.batch_alter_table("application_events") as batch:
        batch.add_column(sa.Column("actor_name", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("application_events") as batch:
        batch.drop_column("actor_name")
    drop_history_table()
