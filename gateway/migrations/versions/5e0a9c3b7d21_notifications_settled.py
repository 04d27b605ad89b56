"""a notification is settled once what it asked for is done

Revision ID: 5e0a9c3b7d21
Revises: 9d4b6e2a7c51
Create Date: 2026-12-03 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e0a9c3b7d21"
down_revision: str | Sequence[str] | None = "9d4b6e2a7c51"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
        # The settling event finds its messages by what they are about.
        batch_op.create_index("ix_notifications_subject", ["subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_subject")
        batch_op.drop_column("settled_at")
