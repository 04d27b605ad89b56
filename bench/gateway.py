"""Gateway overhead in the split mode (issue: split mode, "Speed"), each figure against its
anchor measured in the same run: a resident-list page through the gateway against the same
request straight to the registry at 1, 16 and 64 concurrent clients; and 500 sign-ups at
once for 50 places through the gateway against the same burst straight to the volunteer
service. ``BENCH_PROXY_CLIENTS=httpx,aiohttp`` compares the proxy's clients too.

    python -m bench.gateway sqlite|postgres [seconds] [burst size]
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiohttp

from bench.common import DB_PREFIX, drop_postgres, fresh_postgres, percentiles
from gateway.components import migrate_all
from gateway.split import start, stop
from services.common.clock import clock
from services.common.settings import DEMO_PASSWORD, SERVICE_NAMES, Settings


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


def process_peak_mb(processes: dict) -> dict[str, float]:
    """Each process's peak resident memory (VmHWM), read before it stops."""
    peaks = {}
    for name, process in processes.items():
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[name] = round(int(line.split()[1]) / 1024, 1)
    return peaks


async def volunteers(gateway: str, headers: dict, count: int) -> tuple[list[str], list[str]]:
    """``count`` residents registered as volunteers of one community, each logged in as the
    mini-program does; and four activities of 50 places for them to rush."""
    import random

    from bench.synthetic import id_number

    rng = random.Random(11)
    tokens: list[str] = []
    async with aiohttp.ClientSession() as s:
        activities = []
        for n in range(4):
            # On days of their own: one person cannot be signed up for two at the same time.
            start_at = clock.now() + timedelta(days=1 + n)
            async with s.post(
                f"{gateway}/api/v1/volunteer/activities",
                headers=headers,
                json={
                    "community_code": "410105001001",
                    "title": f"义诊 {n}",
                    "category": "health",
                    "capacity": CAPACITY,
                    "start_at": start_at.isoformat(),
                    "end_at": (start_at + timedelta(hours=2)).isoformat(),
                },
            ) as r:
                activities.append((await r.json())["id"])

        async def one(i: int) -> str:
            number = id_number(rng, 30_000_000 + i)
            await s.post(
                f"{gateway}/api/v1/registry/residents",
                headers=headers,
                json={"name": "甲", "id_number": number, "community_code": "410105001001"},
            )
            async with s.post(
                f"{gateway}/api/v1/auth/wechat", json={"code": f"test:burst{i}"}
            ) as r:
                token = (await r.json())["access_token"]
            async with s.post(
                f"{gateway}/api/v1/volunteer/volunteers",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "name": "甲",
                    "id_number": number,
                    "phone": "13700001234",
                    "community_code": "410105001001",
                },
            ) as r:
                assert r.status == 201, await r.text()
            return token

        for start in range(0, count, 20):
            tokens += await asyncio.gather(*(one(i) for i in range(start, min(count, start + 20))))
    return tokens, activities


async def burst(base: str, activity: str, tokens: list[str]) -> dict:
    """Every volunteer signs up for ``activity`` at once, on connections of their own, as
    phones do."""
    samples: list[float] = []
    statuses: dict[str, int] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(token: str) -> None:
            t0 = time.perf_counter()
            async with session.post(
                f"{base}/api/v1/volunteer/activities/{activity}/signups",
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                body = await r.json()
                key = body.get("status") if r.status < 300 else f"http_{r.status}"
                statuses[key] = statuses.get(key, 0) + 1
            samples.append((time.perf_counter() - t0) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(one(t) for t in tokens))
        elapsed = time.perf_counter() - started
    non_2xx = sum(n for k, n in statuses.items() if k.startswith("http_"))
    return {
        "seconds": round(elapsed, 3),
        "statuses": statuses,
        "non_2xx": non_2xx,
        **percentiles(samples),
    }


CAPACITY = 50
CLIENTS = (1, 16, 64)


def run(db: str, seconds: float, burst_size: int = 500) -> dict:
    from gateway.demo import DemoReport, ensure_demo_accounts
    from services.common.database import Database

    proxies = os.environ.get("BENCH_PROXY_CLIENTS", "aiohttp").split(",")
    results = {
        "stage": "gateway_overhead",
        "db": db,
        "seconds_per_run": seconds,
        "anchor": "the same request sent straight to the service, in the same run",
        "clients": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        pg_name = f"{DB_PREFIX}_gw_{os.getpid()}"
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
        limits = {
            "GONGJIAN_RATE_LIMIT_IP_PER_MIN": str(10**9),
            "GONGJIAN_RATE_LIMIT_USER_PER_MIN": str(10**9),
            "GONGJIAN_LOG_LEVEL": "WARNING",
        }
        try:
            for client in proxies:
                ports = {name: free_port() for name in SERVICE_NAMES}
                gateway_port = free_port()
                processes = start(
                    settings,
                    gateway_port=gateway_port,
                    ports=ports,
                    nats_port=free_port(),
                    overrides={**limits, "GONGJIAN_PROXY_CLIENT": client},
                )
                try:
                    gateway = f"http://127.0.0.1:{gateway_port}"
                    headers = asyncio.run(prepare(gateway))
                    path = "/api/v1/registry/residents?community=410105001001&limit=20"
                    for clients in CLIENTS:
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
                    if client == proxies[-1]:
                        results["signup_burst"] = signup_burst(
                            gateway, f"http://127.0.0.1:{ports['volunteer']}", headers, burst_size
                        )
                    results.setdefault("peak_rss_mb", {})[client] = process_peak_mb(processes)
                finally:
                    stop(processes)
        finally:
            if url:
                asyncio.run(drop_postgres(pg_name))
    return results


def signup_burst(gateway: str, direct: str, headers: dict, size: int) -> dict:
    """``size`` sign-ups at once for 50 places, straight to the volunteer service and through
    the gateway, twice each, alternating so that neither side is always the warm one."""
    tokens, activities = asyncio.run(volunteers(gateway, headers, size))
    runs = {"direct": [], "gateway": []}
    for n, activity in enumerate(activities):
        side = "direct" if n % 2 == 0 else "gateway"
        runs[side].append(
            asyncio.run(burst(direct if side == "direct" else gateway, activity, tokens))
        )
    best = {side: min(r["seconds"] for r in rs) for side, rs in runs.items()}
    return {
        "requests": size,
        "capacity": CAPACITY,
        "runs": runs,
        "gateway_non_2xx": sum(r["non_2xx"] for r in runs["gateway"]),
        # time straight to the service ÷ time through the gateway: 1.0 is no overhead
        "ratio": round(best["direct"] / best["gateway"], 2),
    }


if __name__ == "__main__":
    figures = run(
        sys.argv[1] if len(sys.argv) > 1 else "postgres",
        float(sys.argv[2]) if len(sys.argv) > 2 else 10,
        int(sys.argv[3]) if len(sys.argv) > 3 else 500,
    )
    print(json.dumps(figures, ensure_ascii=False))
