"""import rows and files rest encrypted

A rejected import row keeps the row as it was typed (ID numbers, phones) to hand it back
for fixing: it now rests encrypted (``values_enc``), existing rows included. The job keeps
its file's header, because the file itself is deleted once the job is done.

Revision ID: 7bf264c10a14
Revises: 306112df3d78
Create Date: 2026-11-23 08:30:40.152740
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from services.common.pii import PiiCipher
from services.common.settings import get_settings

revision: str = "7bf264c10a14"
down_revision: str | Sequence[str] | None = "306112df3d78"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROW_FIELD = "import_row"  # services/registry/imports/writing.py


def _cipher() -> PiiCipher:
    settings = context.config.attributes.get("settings") or get_settings()
    return PiiCipher(settings.pii_key, settings.pii_index_key)


def upgrade() -> None:
    with op.batch_alter_table("import_errors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("values_enc", sa.Text(), nullable=False, server_default=""))
    errors = sa.table(
        "import_errors",
        sa.column("id", sa.Integer),
        sa.column("values", sa.JSON),
        sa.column("values_enc", sa.Text),
    )
    connection = op.get_bind()
    cipher = _cipher()
    for row_id, values in connection.execute(sa.select(errors.c.id, errors.c["values"])).all():
        sealed = cipher.encrypt(json.dumps(values or [], ensure_ascii=False), ROW_FIELD)
        connection.execute(errors.update().where(errors.c.id == row_id).values(values_enc=sealed))
    with op.batch_alter_table("import_errors", schema=None) as batch_op:
        batch_op.drop_column("values")
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("header", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("header")
    with op.batch_alter_table("import_errors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("values", sa.JSON(), nullable=False, server_default="[]"))
    errors = sa.table(
        "import_errors",
        sa.column("id", sa.Integer),
        sa.column("values", sa.JSON),
        sa.column("values_enc", sa.Text),
    )
    connection = op.get_bind()
    cipher = _cipher()
    for row_id, sealed in connection.execute(sa.select(errors.c.id, errors.c.values_enc)).all():
        values = json.loads(cipher.decrypt(sealed, ROW_FIELD)) if sealed else []
        connection.execute(errors.update().where(errors.c.id == row_id).values(values=values))
    with op.batch_alter_table("import_errors", schema=None) as batch_op:
        batch_op.drop_column("values_enc")
