"""covering indexes for the registration rate

Revision ID: 3f8a6d2c9b14
Revises: 7c4e2a9b5d31
Create Date: 2026-12-12 10:00:00.000000

The rate counts active volunteers per community and those who served within a year. The
volunteers' index lacked the id (a SQLite row is found by its rowid, so each volunteer
was read from the table), the hours' index the volunteer and the hours.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3f8a6d2c9b14"
down_revision: str | Sequence[str] | None = "7c4e2a9b5d31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_volunteers_status_community_id", ["status", "community_code", "id"], unique=False
        )
        batch_op.drop_index("ix_volunteers_status_community")
    with op.batch_alter_table("hours_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hours_status_date_volunteer",
            ["status", "service_date", "volunteer_id", "hours"],
            unique=False,
        )
        batch_op.drop_index("ix_hours_status_date")


def downgrade() -> None:
    with op.batch_alter_table("hours_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hours_status_date", ["status", "service_date", "community_code"], unique=False
        )
        batch_op.drop_index("ix_hours_status_date_volunteer")
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_volunteers_status_community", ["status", "community_code"], unique=False
        )
        batch_op.drop_index("ix_volunteers_status_community_id")
