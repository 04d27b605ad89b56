"""the counting trigger finds its table from any connection

Revision ID: a6f2c8e4d1b7
Revises: 5d1e8b3f0a6c
Create Date: 2026-12-04 13:00:00.000000

``residents_count_born()`` (migration 9e4b1c7d2a05) names ``population_counts`` without a
schema, so it failed on any connection without the registry's search path: a repair by hand
in psql, a bulk load. The function now carries the search path it was made under (the
registry's, which this migration's connection has).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a6f2c8e4d1b7"
down_revision: str | Sequence[str] | None = "5d1e8b3f0a6c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION residents_count_born() SET search_path FROM CURRENT")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION residents_count_born() RESET search_path")
