"""a case's assignee and the deadlines already reminded of

Revision ID: b5e1f7a3c2d8
Revises: 9793aaed91aa
Create Date: 2026-12-03 16:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5e1f7a3c2d8"
down_revision: str | Sequence[str] | None = "9793aaed91aa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("assignee_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("due_soon_told_for", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("overdue_told_for", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(op.f("ix_cases_assignee_id"), ["assignee_id"])


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_index(op.f("ix_cases_assignee_id"))
        batch.drop_column("overdue_told_for")
        batch.drop_column("due_soon_told_for")
        batch.drop_column("assignee_id")
