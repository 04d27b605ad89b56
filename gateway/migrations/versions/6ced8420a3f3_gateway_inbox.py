"""gateway inbox

Revision ID: 6ced8420a3f3
Revises: 7b42be5f64f3
Create Date: 2026-11-23 07:17:59.521216
"""

from collections.abc import Sequence

from services.common.migrations import create_inbox_table, drop_inbox_table

revision: str = "6ced8420a3f3"
down_revision: str | Sequence[str] | None = "7b42be5f64f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_inbox_table()


def downgrade() -> None:
    drop_inbox_table()
