"""one open application per community and year

Revision ID: 5c1e0a7b9d21
Revises: d82512e59498
Create Date: 2026-12-03 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e0a7b9d21"
down_revision: str | Sequence[str] | None = "d82512e59498"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('submitted', 'recommended')"


def upgrade() -> None:
    op.create_index(
        "uq_applications_open",
        "applications",
        ["community_code", "year"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("uq_applications_open", table_name="applications")
