"""grid outbox and inbox

Revision ID: 9793aaed91aa
Revises: c90ea5fe0a49
Create Date: 2026-11-23 07:46:26.638079
"""

from collections.abc import Sequence

from services.common.migrations import (
    create_inbox_table,
    create_outbox_table,
    drop_inbox_table,
    drop_outbox_table,
)

revision: str = "9793aaed91aa"
down_revision: str | Sequence[str] | None = "c90ea5fe0a49"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_table()
    create_inbox_table()


def downgrade() -> None:
    drop_inbox_table()
    drop_outbox_table()
