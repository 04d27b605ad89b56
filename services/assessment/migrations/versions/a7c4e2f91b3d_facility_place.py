"""a pledged facility's address and place

Revision ID: a7c4e2f91b3d
Revises: f2c6a8e0b415
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c4e2f91b3d"
down_revision: str | Sequence[str] | None = "f2c6a8e0b415"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pledges") as batch:
        batch.add_column(sa.Column("facility_address", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("facility_lat", sa.Float(), nullable=True))
        batch.add_column(sa.Column("facility_lng", sa.Float(), nullable=True))
    op.create_index(
        "ix_pledges_facility_place", "pledges", ["facility_lat", "facility_lng"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_pledges_facility_place", table_name="pledges")
    with op.batch_alter_table("pledges") as batch:
        batch.drop_column("facility_lng")
        batch.drop_column("facility_lat")
        batch.drop_column("facility_address")
