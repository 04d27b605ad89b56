"""a file may be shared with the stationed unit its record was sent to

Revision ID: 7f3d1b9e4c60
Revises: 5e0a9c3b7d21
Create Date: 2026-12-03 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7f3d1b9e4c60"
down_revision: str | Sequence[str] | None = "5e0a9c3b7d21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shared_unit_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("shared_unit_id")
