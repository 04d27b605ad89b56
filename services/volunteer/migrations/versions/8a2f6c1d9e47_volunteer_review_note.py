"""the note a worker gives with a review

Revision ID: 8a2f6c1d9e47
Revises: 3f8a6d2c9b14
Create Date: 2026-12-03 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8a2f6c1d9e47"
down_revision: str | Sequence[str] | None = "3f8a6d2c9b14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_note", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.drop_column("review_note")
