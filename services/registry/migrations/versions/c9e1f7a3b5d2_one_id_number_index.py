"""one index for a resident's ID number

Revision ID: c9e1f7a3b5d2
Revises: a6f2c8e4d1b7
Create Date: 2026-12-08 01:30:00.000000

Two indexes held every resident's ID number (its blind index, 64 random hex characters): one
for finding anyone by it, moved-out residents too, and a partial unique one for "one current
resident per person". A roster's every row went into both, and on SQLite the first was a
quarter of a resident's insert (bench/registry.py). One unique index on the ID number and,
beside it, nothing for a current resident and the row's own id for one moved out does both:
found by its first column, unique among the current.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c9e1f7a3b5d2"
down_revision: str | Sequence[str] | None = "a6f2c8e4d1b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_CURRENT = "(CASE WHEN status = 'current' THEN '' ELSE id END)"


def upgrade() -> None:
    op.execute(
        f"CREATE UNIQUE INDEX uq_residents_id_number ON residents (id_number_index, {ONE_CURRENT})"
    )
    op.execute("DROP INDEX uq_residents_current_id_number")
    op.execute("DROP INDEX ix_residents_id_number_index")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_residents_id_number_index ON residents (id_number_index)")
    op.execute(
        "CREATE UNIQUE INDEX uq_residents_current_id_number ON residents (id_number_index)"
        " WHERE status = 'current'"
    )
    op.execute("DROP INDEX uq_residents_id_number")
