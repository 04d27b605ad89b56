"""import jobs: an xlsx roster's cells (rows by widest row), as its upload's checks found them

Revision ID: d8f3a1c5e9b2
Revises: 9e4b1c7d2a05
Create Date: 2026-12-11 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d8f3a1c5e9b2"
down_revision: str | Sequence[str] | None = "9e4b1c7d2a05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sheet_cells", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("sheet_cells")
