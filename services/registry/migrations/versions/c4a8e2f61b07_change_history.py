"""the change history of every record

Revision ID: c4a8e2f61b07
Revises: b3e91c4d2a7f
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

from services.common.migrations import create_history_table, drop_history_table

revision: str = "c4a8e2f61b07"
down_revision: str | Sequence[str] | None = "b3e91c4d2a7f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_history_table()


def downgrade() -> None:
    drop_history_table()
