"""Alembic, one tree per component, run as a start-up step (never at import).

Each component's ``migrations/env.py`` calls ``run_env(metadata)``; the version table is
``alembic_version_<component>``, in the component's own schema on PostgreSQL.
"""

from __future__ import annotations

import asyncio
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
    """Blocking; call it from a thread when an event loop is running."""
    command.upgrade(alembic_config(component, script_location, settings or get_settings()), "head")


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
            if not db.is_sqlite:
                async with db.engine.begin() as conn:
                    await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{component}"'))
            async with db.engine.connect() as conn:
                await conn.run_sync(run)
                await conn.commit()
        finally:
            await db.dispose()

    asyncio.run(online())
