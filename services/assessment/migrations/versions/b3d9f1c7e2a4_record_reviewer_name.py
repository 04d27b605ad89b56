"""who reviewed a fulfilment record and who signed an agreement, by name

Revision ID: b3d9f1c7e2a4
Revises: a7c4e2f91b3d
Create Date: 2026-12-14 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b3d9f1c7e2a4"
down_revision: str | Sequence[str] | None = "a7c4e2f91b3d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fulfilment_records") as batch:
        batch.add_column(sa.Column("reviewed_by_name", sa.String(length=64), nullable=True))
    with op.batch_alter_table("agreements") as batch:
        batch.add_column(sa.Column("unit_signed_by_name", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("community_signed_by_name", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agreements") as batch:
        batch.drop_column("community_signed_by_name")
        batch.drop_column("unit_signed_by_name")
    with op.batch_alter_table("fulfilment_records") as batch:
        batch.drop_column("reviewed_by_name")
