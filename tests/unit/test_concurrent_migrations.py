"""Replicas that start at once each migrate first (Kubernetes init containers): they take
turns, and every one finds its database at head."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import uuid
from concurrent.futures import ProcessPoolExecutor

import asyncpg
from sqlalchemy.engine import make_url

from gateway.components import MIGRATION_TREES, migrate_all
from services.common.settings import Settings


def _fresh_database(tmp_path) -> tuple[Settings, str | None]:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return Settings(env="test", data_dir=tmp_path), None
    parsed = make_url(url)
    name = f"migrate_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
        )
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    fresh = parsed.set(database=name).render_as_string(hide_password=False)
    return Settings(env="test", data_dir=tmp_path, database_url=fresh), name


def _drop(name: str) -> None:
    parsed = make_url(os.environ["DATABASE_URL"])

    async def drop() -> None:
        conn = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
        )
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def test_three_replicas_migrating_at_once_all_reach_head(tmp_path):
    """Processes, as replicas are (Alembic's context is one per process)."""
    settings, created = _fresh_database(tmp_path)
    try:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=3, mp_context=spawn) as pool:
            runs = [pool.submit(migrate_all, settings) for _ in range(3)]
            for run in runs:
                run.result(timeout=300)  # a replica that failed raises here
        migrate_all(settings)  # and once more: nothing left to do, nothing fails
        assert len(MIGRATION_TREES) == 5
    finally:
        if created:
            _drop(created)
