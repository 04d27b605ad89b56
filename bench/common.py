"""What every benchmark needs: a fresh platform on SQLite or PostgreSQL, a client through
the gateway, timing and memory figures, and a place to write results."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx

from gateway.app import create_app
from gateway.components import migrate_all
from gateway.demo import DemoReport, ensure_demo_accounts
from services.common.clock import clock
from services.common.settings import DEMO_PASSWORD, Settings

RESULTS = Path(__file__).parent / "results"
PG_SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
# What the databases a run makes are called after: runs that share one server (several
# worktrees on one machine) each give their own, and keep off each other's.
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "gongjian_bench")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident memory now (``peak_rss_mb`` is its highest so far)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "n": len(ordered),
    }


async def fresh_postgres(name: str) -> str:
    conn = await asyncpg.connect(PG_SERVER)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    # BENCH_PG may name a Unix socket (``postgresql://postgres@/postgres?host=/var/run/...``).
    server, _, query = PG_SERVER.partition("?")
    base = server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}" + (f"?{query}" if query else "")


async def drop_postgres(name: str) -> None:
    conn = await asyncpg.connect(PG_SERVER)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def platform_on(db: str, **overrides):
    """A migrated platform with demo accounts; yields (app, client, admin headers)."""
    tmp = tempfile.TemporaryDirectory(prefix="gongjian-bench-")
    pg_name = f"{DB_PREFIX}_{os.getpid()}"
    url = await fresh_postgres(pg_name) if db == "postgres" else ""
    settings = Settings(
        env="test",
        data_dir=Path(tmp.name),
        database_url=url,
        demo_data=False,
        log_json=False,
        rate_limit_ip_per_min=10**9,
        rate_limit_user_per_min=10**9,
        **overrides,
    )
    await asyncio.to_thread(migrate_all, settings)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            await ensure_demo_accounts(app.state.database, DemoReport())
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", timeout=600
            ) as client:
                r = await client.post(
                    "/api/v1/auth/token", json={"username": "demo-admin", "password": DEMO_PASSWORD}
                )
                yield app, client, {"Authorization": f"Bearer {r.json()['access_token']}"}
    finally:
        if url:
            await drop_postgres(pg_name)
        tmp.cleanup()


def write_result(name: str, figures: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    figures = {
        "bench": name,
        "at": clock.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        **figures,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
    return path


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
