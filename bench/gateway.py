"""Gateway overhead in the split mode (issue: split mode, "Speed"): a resident-list page
through the gateway against the same request straight to the registry, at 1 and 64
concurrent clients, for each proxy client (httpx, aiohttp).

    python -m bench.gateway sqlite|postgres [seconds]
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import drop_postgres, fresh_postgres, percentiles
from gateway.components import migrate_all
from gateway.split import start, stop
from services.common.settings import DEMO_PASSWORD, Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(url: str, headers: dict, clients: int, seconds: float) -> dict:
    """``clients`` loops sending the same GET for ``seconds``; aiohttp as the load generator
    (it costs less CPU than httpx, and the generator shares this 2-core machine)."""
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.get(url, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status
                samples.append((time.perf_counter() - t0) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "requests_per_s": round(len(samples) / elapsed),
        **percentiles(samples),
    }


async def prepare(gateway: str) -> dict:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{gateway}/api/v1/auth/token",
            json={"username": "demo-admin", "password": DEMO_PASSWORD},
        ) as r:
            token = (await r.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for code, name in (
            ("410105000000", "金水区"),
            ("410105001000", "街道"),
            ("410105001001", "社区"),
        ):
            await s.post(
                f"{gateway}/api/v1/registry/areas",
                json={"code": code, "name": name},
                headers=headers,
            )
        import random

        from bench.synthetic import id_number

        rng = random.Random(9)
        for i in range(40):
            await s.post(
                f"{gateway}/api/v1/registry/residents",
                headers=headers,
                json={
                    "name": f"居民{i}",
                    "id_number": id_number(rng, 20_000_000 + i),
                    "community_code": "410105001001",
                },
            )
    return headers


def run(db: str, seconds: float) -> dict:
    from gateway.demo import DemoReport, ensure_demo_accounts
    from services.common.database import Database

    results = {"stage": "gateway_overhead", "db": db, "seconds_per_run": seconds, "clients": {}}
    with tempfile.TemporaryDirectory() as tmp:
        pg_name = f"gongjian_bench_gw_{os.getpid()}"
        url = asyncio.run(fresh_postgres(pg_name)) if db == "postgres" else ""
        settings = Settings(
            env="test",
            data_dir=Path(tmp),
            database_url=url,
            demo_data=False,
            rate_limit_ip_per_min=10**9,
            rate_limit_user_per_min=10**9,
            log_level="WARNING",
        )
        migrate_all(settings)

        async def accounts():
            database = Database(settings.database_url_for("gateway"), schema="gateway")
            await ensure_demo_accounts(database, DemoReport())
            await database.dispose()

        asyncio.run(accounts())
        os.environ["GONGJIAN_RATE_LIMIT_IP_PER_MIN"] = os.environ[
            "GONGJIAN_RATE_LIMIT_USER_PER_MIN"
        ] = str(10**9)
        os.environ["GONGJIAN_LOG_LEVEL"] = "WARNING"
        try:
            for client in ("httpx", "aiohttp"):
                os.environ["GONGJIAN_PROXY_CLIENT"] = client
                ports = {
                    "registry": free_port(),
                    "grid": free_port(),
                    "volunteer": free_port(),
                    "assessment": free_port(),
                }
                gateway_port = free_port()
                processes = start(settings, gateway_port=gateway_port, ports=ports)
                try:
                    gateway = f"http://127.0.0.1:{gateway_port}"
                    headers = asyncio.run(prepare(gateway))
                    path = "/api/v1/registry/residents?community=410105001001&limit=20"
                    for clients in (1, 64):
                        direct = asyncio.run(
                            load(
                                f"http://127.0.0.1:{ports['registry']}{path}",
                                headers,
                                clients,
                                seconds,
                            )
                        )
                        through = asyncio.run(load(f"{gateway}{path}", headers, clients, seconds))
                        results["clients"].setdefault(str(clients), {})[client] = {
                            "direct": direct,
                            "gateway": through,
                            "ratio": round(through["requests_per_s"] / direct["requests_per_s"], 2),
                        }
                finally:
                    stop(processes)
        finally:
            for name in (
                "GONGJIAN_PROXY_CLIENT",
                "GONGJIAN_RATE_LIMIT_IP_PER_MIN",
                "GONGJIAN_RATE_LIMIT_USER_PER_MIN",
            ):
                os.environ.pop(name, None)
            if url:
                asyncio.run(drop_postgres(pg_name))
    return results


if __name__ == "__main__":
    figures = run(
        sys.argv[1] if len(sys.argv) > 1 else "postgres",
        float(sys.argv[2]) if len(sys.argv) > 2 else 10,
    )
    print(json.dumps(figures, ensure_ascii=False))
