"""import jobs: whether a roster may create buildings, those it created, its text encoding

Revision ID: c7d2e8a41f90
Revises: c4a8e2f61b07
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7d2e8a41f90"
down_revision: str | Sequence[str] | None = "c4a8e2f61b07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "create_buildings", sa.Boolean(), nullable=False, server_default=sa.text("false")
            )
        )
        batch_op.add_column(
            sa.Column("created_buildings", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("encoding", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("encoding")
        batch_op.drop_column("created_buildings")
        batch_op.drop_column("create_buildings")
