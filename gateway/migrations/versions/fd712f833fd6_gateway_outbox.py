"""gateway outbox

Revision ID: fd712f833fd6
Revises: 6ced8420a3f3
Create Date: 2026-11-23 08:57:07.451717
"""

from collections.abc import Sequence

from services.common.migrations import create_outbox_table, drop_outbox_table

revision: str = "fd712f833fd6"
down_revision: str | Sequence[str] | None = "6ced8420a3f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_table()


def downgrade() -> None:
    drop_outbox_table()
