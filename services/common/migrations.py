"""Alembic, one tree per component, run as a start-up step (never at import).

Each component's ``migrations/env.py`` calls ``run_env(metadata)``; the version table is
``alembic_version_<component>``, in the component's own schema on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text

from services.common.database import Database
from services.common.settings import Settings, get_settings


def alembic_config(component: str, script_location: Path, settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["component"] = component
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(component: str, script_location: Path, settings: Settings | None = None) -> None:
    """Blocking; call it from a thread when an event loop is running. Processes that
    migrate at once take turns: PostgreSQL's advisory lock (in ``run_env``), a file lock
    beside a SQLite file."""
    settings = settings or get_settings()
    config = alembic_config(component, script_location, settings)
    if settings.is_postgres:
        command.upgrade(config, "head")
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / f".migrate-{component}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        command.upgrade(config, "head")


def run_env(target_metadata: MetaData) -> None:
    from alembic import context

    config = context.config
    component = config.attributes.get("component") or config.get_main_option("component")
    settings: Settings = config.attributes.get("settings") or get_settings()
    db = Database(settings.database_url_for(component), schema=component)
    options = {
        "target_metadata": target_metadata,
        "version_table": f"alembic_version_{component}",
        "version_table_schema": None if db.is_sqlite else component,
        "render_as_batch": db.is_sqlite,
        "compare_type": True,
        "render_item": render_item,
    }
    if context.is_offline_mode():
        context.configure(url=db.url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def online() -> None:
        try:
            async with db.engine.connect() as conn:
                if not db.is_sqlite:
                    # Replicas that start at once each migrate first (an init container
                    # each): they take turns on this lock, held to the end of the session,
                    # and whoever comes second finds the schema at head.
                    await conn.execute(
                        text("SELECT pg_advisory_lock(hashtext(:key))"),
                        {"key": f"gongjian-migrate-{component}"},
                    )
                    await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{component}"'))
                    await conn.commit()
                await conn.run_sync(run)
                await conn.commit()
        finally:
            await db.dispose()

    asyncio.run(online())


# --- the tables every component keeps: one definition each, used by every migration tree ----
# Written out here (not derived from the models) so that a migration keeps creating what it
# created the day it was written, whatever the models become later.


def create_idempotency_table() -> None:
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_expires_at"), "idempotency_keys", ["expires_at"], unique=False
    )


def drop_idempotency_table() -> None:
    from alembic import op

    op.drop_index(op.f("ix_idempotency_keys_expires_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")


def create_outbox_table() -> None:
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(op.f("ix_outbox_published_at"), "outbox", ["published_at"], unique=False)


def drop_outbox_table() -> None:
    from alembic import op

    op.drop_index(op.f("ix_outbox_published_at"), table_name="outbox")
    op.drop_table("outbox")


def create_inbox_table() -> None:
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "consumer", name=op.f("pk_inbox")),
    )


def drop_inbox_table() -> None:
    from alembic import op

    op.drop_table("inbox")


def create_history_table() -> None:
    import sqlalchemy as sa
    from alembic import op

    op.create_table(
        "change_history",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("area_code", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("actor_name", sa.String(length=64), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_history")),
    )
    op.create_index(
        "ix_change_history_record",
        "change_history",
        ["record_type", "record_id", "id"],
        unique=False,
    )


def drop_history_table() -> None:
    from alembic import op

    op.drop_index("ix_change_history_record", table_name="change_history")
    op.drop_table("change_history")


def render_item(type_: str, obj, autogen_context):
    """Autogenerate writes the common time column as the plain type it stores, so that a
    migration does not import application code."""
    from services.common.database import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
