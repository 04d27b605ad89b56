"""the change history of every record

Revision ID: d1f3b5a7c902
Revises: 5a7e3c9d1f20
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

from services.common.migrations import create_history_table, drop_history_table

revision: str = "d1f3b5a7c902"
down_revision: str | Sequence[str] | None = "5a7e3c9d1f20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_history_table()


def downgrade() -> None:
    drop_history_table()
