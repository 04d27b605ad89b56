"""teams open to join, why a registration waits, the volunteer outbox

Revision ID: 5a7e3c9d1f20
Revises: d9c91006aac1
Create Date: 2026-12-03 15:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.migrations import create_outbox_table, drop_outbox_table

revision: str = "5a7e3c9d1f20"
down_revision: str | Sequence[str] | None = "d9c91006aac1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.add_column(
            sa.Column("joining", sa.String(length=16), server_default="open", nullable=False)
        )
    with op.batch_alter_table("volunteers") as batch:
        batch.add_column(sa.Column("review_reason", sa.String(length=32), nullable=True))
    # The party-member team takes members a worker adds (and in-service party members).
    op.execute("UPDATE teams SET joining = 'invited' WHERE kind = 'party_member'")
    create_outbox_table()


def downgrade() -> None:
    drop_outbox_table()
    with op.batch_alter_table("volunteers") as batch:
        batch.drop_column("review_reason")
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("joining")
