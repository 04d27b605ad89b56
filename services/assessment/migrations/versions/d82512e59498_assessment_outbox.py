"""assessment outbox

Revision ID: d82512e59498
Revises: 0483e709e47e
Create Date: 2026-11-23 09:02:45.291338
"""

from collections.abc import Sequence

from services.common.migrations import create_outbox_table, drop_outbox_table

revision: str = "d82512e59498"
down_revision: str | Sequence[str] | None = "0483e709e47e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_table()


def downgrade() -> None:
    drop_outbox_table()
