"""a refused check-out is kept, and the attendance waits for a person

Revision ID: 7c4e2a9b5d31
Revises: d1f3b5a7c902
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c4e2a9b5d31"
down_revision: str | Sequence[str] | None = "d1f3b5a7c902"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signups") as batch:
        batch.add_column(sa.Column("check_out_tried_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("review_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signups") as batch:
        batch.drop_column("review_reason")
        batch.drop_column("check_out_tried_at")
