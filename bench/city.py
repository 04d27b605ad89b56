"""City scale (issue #14, "speed"): seed 002's city loaded by COPY (``bench/city_data.py``),
then measured through the gateway of the split mode — every service and the gateway a
process of its own, over HTTP — as a client would, cold (the first request after the
processes start again) and warm (p50/p99 of repeated requests). Each figure comes with its
anchors from the same run: the same request sent straight to the service, and the service's
own queries run under EXPLAIN ANALYZE (the database's share of it). Each process's peak
memory is read (VmHWM) after each figure, before it is restarted.

    python -m bench.city run [scale]   1.0 is the city; 0.1 a tenth of it (every count)
    BENCH_CITY_REUSE=1                 keep the loaded database and reuse it next time
    BENCH_DB_PREFIX=gj_me_bench        what its databases are called after (one server,
                                       several worktrees)

``make bench`` runs two scales (``BENCH_CITY_SCALES``, 0.1 and 1.0) and works out from them
how each figure grows: what a province (x20) would need."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import math
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import aiohttp
import asyncpg
from sqlalchemy import event

from bench import city_data
from bench.common import (
    DB_PREFIX,
    PG_SERVER,
    drop_postgres,
    fresh_postgres,
    peak_rss_mb,
    percentiles,
)
from bench.gateway import free_port, process_peak_mb
from gateway.components import migrate_all
from gateway.demo import DemoReport, ensure_demo_accounts
from gateway.service import hash_password
from gateway.split import start, stop, wait_ready
from services.common.auth import ALL, Principal
from services.common.clock import clock, local_zone
from services.common.database import Database
from services.common.pagination import PageParams
from services.common.periods import parse_period
from services.common.settings import DEMO_PASSWORD, SERVICE_NAMES, Settings

CITY = city_data.CITY
# The goals, each figure's limit.
GOALS = {
    "scores": ("ms", 2000),
    "registration_rate": ("ms", 300),
    "case_kpis": ("ms", 500),
    "full_sync": ("gzip_kb", 200),
    "empty_delta": ("bytes", 1024),
    "resident_list": ("p99_ms", 20),
    "peak_rss": ("mb", 300),
}
# Long enough that a slow figure is measured, not cut off: the defaults (10 s for the proxy
# and for a peer) would answer 504 instead, which the report says where it happens.
TIMEOUT_S = 600
APP_PROCESSES = (*SERVICE_NAMES, "gateway")


def last_full_quarter() -> str:
    today = clock.today()
    q = (today.month - 1) // 3  # the current quarter, 0-based; the one before is complete
    year, q = (today.year, q) if q else (today.year - 1, 4)
    return f"{year}Q{q}"


# --- the platform in the split mode --------------------------------------------------------


def free_block(size: int) -> int:
    """A port whose ``size - 1`` successors are free too (SeaweedFS takes eight in a row)."""
    for _ in range(200):
        base = free_port()
        if base + size >= 65535:
            continue
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no block of free ports")


class Platform:
    """The split mode's processes, started again on demand (a cold start)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ports = {name: free_port() for name in SERVICE_NAMES}
        self.gateway_port = free_port()
        self.starters: dict = {}
        self.peaks: dict[str, float] = {}
        overrides = {
            "GONGJIAN_RATE_LIMIT_IP_PER_MIN": str(10**9),
            "GONGJIAN_RATE_LIMIT_USER_PER_MIN": str(10**9),
            "GONGJIAN_LOG_LEVEL": "WARNING",
            "GONGJIAN_ACCESS_TOKEN_TTL_S": str(6 * 3600),
            "GONGJIAN_PROXY_READ_TIMEOUT_S": str(TIMEOUT_S),
            "GONGJIAN_PEER_TIMEOUT_S": str(TIMEOUT_S),
            # The keys the rows were sealed with.
            "GONGJIAN_PII_KEY": settings.pii_key,
            "GONGJIAN_PII_INDEX_KEY": settings.pii_index_key,
            "GONGJIAN_SECRET_KEY": settings.secret_key,
        }
        self.processes = start(
            settings,
            gateway_port=self.gateway_port,
            ports=self.ports,
            nats_port=free_port(),
            overrides=overrides,
            starters=self.starters,
        )

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def service(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def read_peaks(self) -> dict[str, float]:
        """Each process's peak memory since it started; the highest seen is kept too."""
        now = process_peak_mb(self.processes)
        for name, mb in now.items():
            self.peaks[name] = max(self.peaks.get(name, 0.0), mb)
        return now

    def restart(self) -> None:
        """Services and gateway stopped and started again: new connections, no cached
        statements, plans or figures in any of them (the database server's own buffers
        stay: it is shared with other work on this machine)."""
        self.read_peaks()
        stop({name: self.processes[name] for name in APP_PROCESSES})
        for name in SERVICE_NAMES:
            self.processes[name] = self.starters[name]()
        wait_ready([f"{self.service(n)}/healthz" for n in SERVICE_NAMES])
        self.processes["gateway"] = self.starters["gateway"]()
        wait_ready([f"{self.gateway}/healthz"])

    def stop(self) -> None:
        self.read_peaks()
        stop(self.processes)


# --- requests -------------------------------------------------------------------------------


class Client:
    """aiohttp, as in bench/gateway.py (it costs less CPU than httpx on this shared machine);
    bodies are read as sent, so that a gzipped answer is measured as it travels."""

    def __init__(self) -> None:
        self.session = aiohttp.ClientSession(
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
        )

    async def get(self, url: str, headers: dict, params: dict | None = None):
        t0 = time.perf_counter()
        async with self.session.get(url, headers=headers, params=params) as r:
            wire = await r.read()
            ms = (time.perf_counter() - t0) * 1000
            encoding = r.headers.get("Content-Encoding")
            status = r.status
        body = gzip.decompress(wire) if encoding == "gzip" else wire
        if status != 200:
            raise RuntimeError(f"GET {url} {params}: {status} {body[:500]!r}")
        return ms, wire, body

    def timed(self, url: str, headers: dict, params: dict | None = None):
        """A call of the same request that answers its milliseconds, for ``repeat``."""

        async def call() -> float:
            return (await self.get(url, headers, params))[0]

        return call

    async def login(self, gateway: str, username: str, password: str) -> dict:
        async with self.session.post(
            f"{gateway}/api/v1/auth/token", json={"username": username, "password": password}
        ) as r:
            body = json.loads(gzip.decompress(raw) if (raw := await r.read())[:2] == b"\x1f\x8b" else raw)  # fmt: skip
            if r.status != 200:
                raise RuntimeError(f"login {username}: {r.status} {body}")
        return {"Authorization": f"Bearer {body['access_token']}"}

    async def close(self) -> None:
        await self.session.close()


async def repeat(
    *calls: Callable[[], Awaitable[float]], at_most: int, budget_s: float, at_least: int = 3
) -> list[list[float]]:
    """Samples of each call (each answers its milliseconds), taken in turns — through the
    gateway, then straight to the service, and again — so that neither side always meets
    the quieter moments of this shared machine; until ``at_most`` each or the budget."""
    samples: list[list[float]] = [[] for _ in calls]
    deadline = time.perf_counter() + budget_s
    while len(samples[0]) < at_most and (
        len(samples[0]) < at_least or time.perf_counter() < deadline
    ):
        for call, out in zip(calls, samples, strict=True):
            out.append(await call())
    return samples


def machine_load() -> float:
    """The machine's one-minute load average (2 cores, shared with other work)."""
    return round(os.getloadavg()[0], 2)


# --- the database's share: the services' own queries under EXPLAIN ANALYZE ------------------


@asynccontextmanager
async def explained(database: Database, plans: list[dict], label: str, *, rows: bool = True):
    """Every SELECT run on ``database`` inside the block is run again under EXPLAIN
    (ANALYZE, BUFFERS) on the same connection, with the same parameters, and its plan kept
    (so warm: the second run). With ``rows=False`` the EXPLAIN runs instead of the query
    (for one query whose rows the bench has no use for): the code that asked sees none."""

    def keep(statement: str, text: str) -> None:
        plans.append({"label": label, "sql": statement, **_plan_times(text), "plan": text})

    def before(conn, cursor, statement, parameters, context, executemany):
        if not rows and _is_select(statement):
            return EXPLAIN + statement, parameters
        return statement, parameters

    def after(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith(EXPLAIN):
            keep(statement[len(EXPLAIN) :], "\n".join(r[0] for r in cursor.fetchall()))
        elif rows and _is_select(statement):
            again = conn.connection.dbapi_connection.cursor()
            try:
                again.execute(EXPLAIN + statement, parameters)
                keep(statement, "\n".join(r[0] for r in again.fetchall()))
            finally:
                again.close()

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before, retval=True)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS) "


def _is_select(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT")


def _plan_times(text: str) -> dict[str, float]:
    out = {}
    for key, name in (("Planning Time", "planning_ms"), ("Execution Time", "execution_ms")):
        found = re.search(rf"{key}: ([0-9.]+) ms", text)
        if found:
            out[name] = float(found.group(1))
    return out


async def explain(database: Database, plans: list[dict], label: str, fn, rows=True) -> None:
    """``fn(session)`` run once under ``explained``."""
    async with (
        database.transaction(write=False) as session,
        explained(database, plans, label, rows=rows),
    ):
        if rows:
            await fn(session)
        else:  # the code saw no rows and may trip over that: the plans are what is wanted
            with contextlib.suppress(Exception):
                await fn(session)


def sql_summary(plans: list[dict]) -> dict:
    return {
        "ms": round(sum(p.get("execution_ms", 0) + p.get("planning_ms", 0) for p in plans), 1),
        "queries": [{k: p.get(k) for k in ("label", "execution_ms", "planning_ms")} for p in plans],
    }


# --- the figures ----------------------------------------------------------------------------


class Measure:
    def __init__(self, platform: Platform, client: Client, settings: Settings, loaded) -> None:
        self.platform = platform
        self.client = client
        self.settings = settings
        self.loaded = loaded
        self.period = last_full_quarter()
        self.dbs = {
            name: Database(settings.database_url_for(name), schema=name) for name in SERVICE_NAMES
        }
        self.peaks: dict[str, dict[str, float]] = {}

    async def close(self) -> None:
        for db in self.dbs.values():
            await db.dispose()

    async def tokens(self) -> None:
        gw = self.platform.gateway
        self.admin = await self.client.login(gw, "demo-admin", DEMO_PASSWORD)
        street = self.loaded["street"]
        self.street_admin = await self.client.login(gw, f"street-{street}", city_data.PASSWORD)
        self.workers = {
            cell: await self.client.login(gw, f"grid-{cell}", city_data.PASSWORD)
            for cell in (self.loaded["median_cell"], self.loaded["largest_cell"])
        }

    async def cold(self) -> None:
        await asyncio.to_thread(self.platform.restart)

    def done(self, figure: str) -> dict[str, float]:
        self.peaks[figure] = self.platform.read_peaks()
        return self.peaks[figure]

    async def request_figure(
        self,
        service: str,
        path: str,
        params: dict,
        headers: dict,
        check: Callable[[dict], dict],
        *,
        at_most: int,
        budget_s: float,
    ) -> dict:
        """Cold through the gateway, then warm through the gateway and straight to the
        service; what ``check`` reads from the answer (that it is the whole city's) is kept."""
        await self.cold()
        gw, direct = f"{self.platform.gateway}{path}", f"{self.platform.service(service)}{path}"
        cold_ms, wire, body = await self.client.get(gw, headers, params)
        seen = check(json.loads(body))
        timed = self.client.timed
        warm, direct_samples = await repeat(
            timed(gw, headers, params), timed(direct, headers, params),
            at_most=at_most, budget_s=budget_s,
        )  # fmt: skip
        return {
            "cold_ms": round(cold_ms, 1),
            "warm": percentiles(warm),
            "direct": percentiles(direct_samples),
            "machine_load": machine_load(),
            "answer_kb": round(len(body) / 1024, 1),
            "wire_kb": round(len(wire) / 1024, 1),
            **seen,
        }

    # scores ---------------------------------------------------------------------------

    async def scores(self) -> dict:
        communities = self.loaded["communities"]

        def check(body: dict) -> dict:
            # A city's ranking comes a page at a time: the first page, every community of
            # the city ranked to make it.
            n = len(body["communities"])
            assert n == min(20, communities) and body["next_cursor"], f"{n} on the first page"
            return {"page": n, "indicators": len(body["communities"][0]["indicators"])}

        params = {"area": CITY, "period": self.period, "live": "true"}
        out = await self.request_figure(
            "assessment", "/api/v1/assessment/scores", params, self.admin, check,
            at_most=10, budget_s=90,
        )  # fmt: skip
        out["whole_ranking"] = await self._whole_ranking(params, communities)
        # Where the time goes: the three calls the assessment makes, each straight to its
        # service, and the assessment's own queries.
        parts = {
            "registry_children_stats": (
                "registry", f"/api/v1/registry/areas/{CITY}/children/stats", {"level": "community"}
            ),
            "volunteer_rates": (
                "volunteer", "/api/v1/volunteer/stats/registration-rate",
                {"area": CITY, "level": "community"},
            ),
            "grid_kpis": (
                "grid", "/api/v1/grid/cases/kpis",
                {"area": CITY, "period": self.period, "group_by": "community"},
            ),
        }  # fmt: skip
        out["parts_direct_ms"] = {}
        for name, (service, path, p) in parts.items():
            ms, _, _ = await self.client.get(f"{self.platform.service(service)}{path}", self.admin, p)  # fmt: skip
            out["parts_direct_ms"][name] = round(ms, 1)
        out["peak_rss_mb"] = self.done("scores")
        plans: list[dict] = []
        await self._registry_stats_sql(plans, "community", 12)
        await self._volunteer_sql(plans)
        await self._kpi_sql(plans, 12)
        await self._assessment_sql(plans)
        out["sql"] = sql_summary(plans)
        out["_plans"] = plans
        return out

    async def _whole_ranking(self, params: dict, communities: int) -> dict:
        """Every page of the city's ranking once, a hundred communities a page, through the
        gateway: each community once, in rank order."""
        url, cursor = f"{self.platform.gateway}/api/v1/assessment/scores", None
        pages, ms, raw, wire, seen = 0, 0.0, 0, 0, []
        while True:
            page = {**params, "limit": "100", **({"cursor": cursor} if cursor else {})}
            took, on_wire, body = await self.client.get(url, self.admin, page)
            answer = json.loads(body)
            pages, ms, raw, wire = pages + 1, ms + took, raw + len(body), wire + len(on_wire)
            seen += [(c["rank"], c["community_code"]) for c in answer["communities"]]
            if not (cursor := answer["next_cursor"]):
                break
        codes = [code for _, code in seen]
        assert len(codes) == len(set(codes)) == communities, f"{len(set(codes))} of {communities}"
        assert [r for r, _ in seen] == sorted(r for r, _ in seen), "not in rank order"
        return {
            "communities": len(codes),
            "pages": pages,
            "ms": round(ms, 1),
            "answer_kb": round(raw / 1024, 1),
            "wire_kb": round(wire / 1024, 1),
        }

    async def _registry_stats_sql(self, plans, level: str, group_len: int) -> None:
        from services.registry import repository, rules

        admin = Principal(user_id="bench", roles=("platform_admin",), scope=(ALL,))
        today = clock.today()

        async def run(session):
            await repository.areas_at_level_under(session, admin, CITY[:4], level)
            born_after = rules.minors_born_after(today)
            await repository.population_stats(session, CITY[:4], group_len, born_after)

        await explain(self.dbs["registry"], plans, f"registry children stats ({level})", run)

    async def _volunteer_sql(self, plans) -> None:
        from services.volunteer import repository

        year_ago = clock.today() - timedelta(days=365)

        async def run(session):
            await repository.registration_counts(session, CITY[:4], year_ago)

        await explain(self.dbs["volunteer"], plans, "registration counts", run)

    async def _kpi_sql(self, plans, group_len: int) -> None:
        from services.grid import repository

        start, end = parse_period(self.period).bounds(local_zone())

        async def run(session):
            await repository.unmeasured_cases(session, CITY[:4], start, end)
            await repository.case_kpis(session, CITY[:4], start, end, group_len, clock.now())

        await explain(self.dbs["grid"], plans, "case KPIs", run)

    async def _assessment_sql(self, plans) -> None:
        from services.assessment import repository

        admin = Principal(user_id="bench", roles=("platform_admin",), scope=(ALL,))
        period = parse_period(self.period)
        db = self.dbs["assessment"]
        async with db.transaction(write=False) as session:
            agreements = await repository.agreements_in_force(
                session=session, principal=admin, prefix=CITY[:4], period=period
            )
        ids = [a.id for a in agreements]

        async def run(session):
            await repository.agreements_in_force(
                session=session, principal=admin, prefix=CITY[:4], period=period
            )
            await repository.pledges_of(session=session, agreement_ids=ids)
            await repository.confirmed_quantities(session=session, agreement_ids=ids, period=period)
            await repository.meetings_by_community(
                session=session, principal=admin, prefix=CITY[:4], period=period
            )

        await explain(db, plans, "assessment co-building", run)

    # registration rate ----------------------------------------------------------------

    async def registration_rate(self) -> dict:
        streets, active = self.loaded["streets"], self.loaded["active_volunteers"]

        def check(body: dict) -> dict:
            assert len(body["children"]) == streets, f"{len(body['children'])} of {streets}"
            assert body["volunteers"] == active, f"{body['volunteers']} of {active} volunteers"
            return {
                "children": len(body["children"]),
                "residents": body["residents"],
                "volunteers": body["volunteers"],
                "rate": body["rate"],
            }

        out = await self.request_figure(
            "volunteer", "/api/v1/volunteer/stats/registration-rate",
            {"area": CITY, "level": "street"}, self.admin, check, at_most=30, budget_s=60,
        )  # fmt: skip
        ms, _, _ = await self.client.get(
            f"{self.platform.service('registry')}/api/v1/registry/areas/{CITY}/children/stats",
            self.admin,
            {"level": "street"},
        )
        out["parts_direct_ms"] = {"registry_children_stats": round(ms, 1)}
        out["peak_rss_mb"] = self.done("registration_rate")
        plans: list[dict] = []
        await self._registry_stats_sql(plans, "street", 9)
        await self._volunteer_sql(plans)
        out["sql"] = sql_summary(plans)
        out["_plans"] = plans
        return out

    # case KPIs ------------------------------------------------------------------------

    async def case_kpis(self) -> dict:
        start, end = parse_period(self.period).bounds(local_zone())
        conn = await asyncpg.connect(self._dsn())
        try:
            expected = await conn.fetchval(
                "SELECT count(*) FROM grid.cases WHERE cell_code >= $1 AND cell_code < $2"
                " AND created_at >= $3 AND created_at < $4",
                CITY[:4],
                str(int(CITY[:4]) + 1),
                start,
                end,
            )
        finally:
            await conn.close()

        def check(body: dict) -> dict:
            total = sum(r["cases"] for r in body["rows"])
            assert total == expected, f"{total} cases in the KPIs of {expected}"
            return {"rows": len(body["rows"]), "cases": total}

        out = await self.request_figure(
            "grid", "/api/v1/grid/cases/kpis",
            {"area": CITY, "period": self.period, "group_by": "street"}, self.admin, check,
            at_most=10, budget_s=90,
        )  # fmt: skip
        out["peak_rss_mb"] = self.done("case_kpis")
        plans: list[dict] = []
        await self._kpi_sql(plans, 9)
        out["sql"] = sql_summary(plans)
        # The anchor: the same figures written by hand as one aggregate (the median by
        # percentile_cont over the handling times kept), what the database alone takes.
        grouped = await self._explain_raw(
            "SELECT substr(cell_code, 1, 9) AS street, count(*),"
            " count(*) FILTER (WHERE status = 'closed') AS closed,"
            " count(*) FILTER (WHERE closed_on_time) AS on_time,"
            " count(*) FILTER (WHERE rework_count > 0 AND status = 'closed') AS reworked,"
            " count(*) FILTER (WHERE status NOT IN ('closed', 'rejected') AND deadline_at < now())"
            " AS overdue, percentile_cont(0.5) WITHIN GROUP (ORDER BY handling_hours)"
            " AS median_hours FROM grid.cases WHERE cell_code >= $1"
            " AND cell_code < $2 AND created_at >= $3 AND created_at < $4 GROUP BY 1",
            CITY[:4],
            str(int(CITY[:4]) + 1),
            start,
            end,
        )
        out["sql_grouped_in_database"] = {k: grouped[k] for k in grouped if k != "plan"}
        out["_plans"] = [*plans, {"label": "grouped in the database", **grouped}]
        return out

    def _dsn(self) -> str:
        return self.settings.database_url.replace("postgresql+asyncpg://", "postgresql://")

    async def _explain_raw(self, sql: str, *args) -> dict:
        conn = await asyncpg.connect(self._dsn())
        try:
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
        finally:
            await conn.close()
        text = "\n".join(r[0] for r in rows)
        return {**_plan_times(text), "sql": sql, "plan": text}

    # a grid worker's sync -------------------------------------------------------------

    async def sync(self) -> tuple[dict, dict]:
        full_out, delta_out = {}, {}
        path = "/api/v1/grid/sync"
        for which in ("median_cell", "largest_cell"):
            await self.cold()
            cell = self.loaded[which]
            headers = {**self.workers[cell], "Accept-Encoding": "gzip"}
            gw, direct = f"{self.platform.gateway}{path}", f"{self.platform.service('grid')}{path}"
            ms, wire, body = await self.client.get(gw, headers)
            full = json.loads(body)
            residents = self.loaded[f"{which}_residents"]
            assert len(full["residents"]) == residents, f"{len(full['residents'])} of {residents}"
            cursor = {"cursor": full["cursor"]}
            delta_ms, delta_wire, delta_body = await self.client.get(gw, headers, cursor)
            delta = json.loads(delta_body)
            changed = [k for k in ("cells", "buildings", "households", "residents", "cases") if delta[k]]  # fmt: skip
            assert not changed and not any(delta["deleted"].values()), f"not empty: {changed}"
            timed = self.client.timed
            full_warm, full_direct = await repeat(
                timed(gw, headers), timed(direct, headers), at_most=20, budget_s=45
            )
            delta_warm, delta_direct = await repeat(
                timed(gw, headers, cursor), timed(direct, headers, cursor), at_most=50, budget_s=30
            )

            full_out[which] = {
                "cell": cell,
                "residents": len(full["residents"]),
                "households": len(full["households"]),
                "buildings": len(full["buildings"]),
                "open_cases": len(full["cases"]),
                "raw_kb": round(len(body) / 1024, 1),
                "gzip_kb": round(len(wire) / 1024, 1),
                "gzipped_by_gateway": len(wire) < len(body),
                "cold_ms": round(ms, 1),
                "warm": percentiles(full_warm),
                "direct": percentiles(full_direct),
                "machine_load": machine_load(),
            }
            delta_out[which] = {
                "cell": cell,
                "bytes": len(delta_wire),
                "raw_bytes": len(delta_body),
                "first_ms": round(delta_ms, 1),
                "warm": percentiles(delta_warm),
                "direct": percentiles(delta_direct),
            }
        peaks = self.done("sync")
        full_out["peak_rss_mb"] = delta_out["peak_rss_mb"] = peaks
        plans: list[dict] = []
        await self._sync_sql(plans, self.loaded["largest_cell"])
        full_out["sql"] = sql_summary(plans)
        full_out["_plans"] = plans
        full_out["gzip_kb"] = full_out["largest_cell"]["gzip_kb"]
        delta_out["bytes"] = max(delta_out[w]["bytes"] for w in ("median_cell", "largest_cell"))
        return full_out, delta_out

    async def _sync_sql(self, plans, cell: str) -> None:
        from services.grid import repository as grid
        from services.registry import repository as registry

        worker = Principal(user_id="bench", roles=("grid_worker",), scope=(cell,))
        now = clock.now()

        async def run_grid(session):
            await grid.cases_changed(session, [cell], None, now)

        async def run_registry(session):
            await registry.changed_in_cells(session, worker, [cell], None, now)

        await explain(self.dbs["grid"], plans, "open cases of the cell", run_grid)
        await explain(self.dbs["registry"], plans, "roster of the cell", run_registry)

    # the resident list under a street's scope -----------------------------------------

    async def resident_list(self) -> dict:
        street = self.loaded["street"]

        def check(body: dict) -> dict:
            assert len(body["items"]) == 20 and body["next_cursor"], body
            assert all(r["community_code"].startswith(street[:9]) for r in body["items"])
            return {"street": street, "street_residents": self.loaded["street_residents"]}

        out = await self.request_figure(
            "registry", "/api/v1/registry/residents", {"limit": "20"},
            self.street_admin, check, at_most=300, budget_s=30,
        )  # fmt: skip
        out["peak_rss_mb"] = self.done("resident_list")
        from services.registry import repository

        principal = Principal(user_id="bench", roles=("street_admin",), scope=(street[:9],))
        plans: list[dict] = []

        async def run(session):
            stmt = repository.resident_query(principal)
            await repository.list_residents(session, stmt, PageParams(limit=20))

        await explain(self.dbs["registry"], plans, "first page of the street", run)
        out["sql"] = sql_summary(plans)
        out["_plans"] = plans
        return out


def judge(figures: dict) -> list[dict]:
    """Each goal of the issue against what was measured."""
    checks = [
        ("scores", figures["scores"]["cold_ms"], GOALS["scores"][1], "cold"),
        ("scores", figures["scores"]["warm"]["p50_ms"], GOALS["scores"][1], "warm p50"),
        ("registration_rate", figures["registration_rate"]["cold_ms"], 300, "cold"),
        ("registration_rate", figures["registration_rate"]["warm"]["p50_ms"], 300, "warm p50"),
        ("case_kpis", figures["case_kpis"]["cold_ms"], 500, "cold"),
        ("case_kpis", figures["case_kpis"]["warm"]["p50_ms"], 500, "warm p50"),
        ("full_sync", figures["full_sync"]["gzip_kb"], 200, "largest cell, KB gzipped"),
        ("empty_delta", figures["empty_delta"]["bytes"], 1024, "bytes on the wire"),
        ("resident_list", figures["resident_list"]["warm"]["p99_ms"], 20, "warm p99"),
        ("peak_rss", max(figures["peak_rss_mb"].values()), 300, "MB, highest process"),
    ]
    return [
        {"figure": f, "what": what, "value": v, "goal": g, "met": v <= g}
        for f, v, g, what in checks
    ]


# --- the stage ------------------------------------------------------------------------------


def run(scale: float) -> dict:
    reuse = os.environ.get("BENCH_CITY_REUSE") == "1"
    name = f"{DB_PREFIX}_city_{str(scale).replace('.', '_')}" + ("" if reuse else f"_{os.getpid()}")  # fmt: skip
    plan = city_data.plan(scale)
    with tempfile.TemporaryDirectory(prefix="gongjian-city-") as tmp:
        loaded = asyncio.run(_loaded(name, scale)) if reuse else None
        url = _url(name)
        settings = Settings(
            env="test",
            data_dir=Path(tmp),
            database_url=url,
            demo_data=False,
            log_level="WARNING",
            split_s3_port=free_block(8),
        )
        try:
            if loaded is None:
                asyncio.run(fresh_postgres(name))
                migrate_all(settings)
                loaded = asyncio.run(_load(settings, plan, name))
            figures = {
                "stage": "city",
                "scale": scale,
                "counts": plan.counts,
                "period": last_full_quarter(),
                "load": loaded["load"],
            }
            platform = Platform(settings)
            try:
                figures.update(asyncio.run(_measure(platform, settings, loaded)))
            finally:
                platform.stop()
            figures["peak_rss_mb"] = platform.peaks
        finally:
            if not reuse:
                asyncio.run(drop_postgres(name))
    figures["bench_process_peak_rss_mb"] = round(peak_rss_mb(), 1)
    figures["goals"] = judge(figures)
    # The plans of the figures that miss their goal, to say why; the rest stay out.
    missed = {g["figure"] for g in figures["goals"] if not g["met"]}
    figures["explain"] = {
        name: [
            {k: _short(p.get(k)) for k in ("label", "sql", "plan")} for p in figures[name]["_plans"]
        ]
        for name in ("scores", "registration_rate", "case_kpis", "full_sync", "resident_list")
        if name in missed
    }
    for name in ("scores", "registration_rate", "case_kpis", "full_sync", "resident_list"):
        figures[name].pop("_plans", None)
    return figures


def _short(text: str | None, width: int = 300) -> str | None:
    """A plan's lines cut short: an IN list of a thousand ids says nothing more at 300."""
    if text is None:
        return None
    return "\n".join(
        line if len(line) <= width else line[:width] + " …" for line in text.splitlines()
    )


def _url(name: str) -> str:
    server, _, query = PG_SERVER.partition("?")
    base = server.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}" + (f"?{query}" if query else "")


async def _loaded(name: str, scale: float) -> dict | None:
    """What a kept database says it holds (BENCH_CITY_REUSE), if it is there."""
    conn = await asyncpg.connect(PG_SERVER)
    try:
        comment = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
    finally:
        await conn.close()
    if not comment:
        return None
    loaded = json.loads(comment)
    return loaded if loaded.get("scale") == scale else None


async def _load(settings: Settings, plan, name: str) -> dict:
    gateway = Database(settings.database_url_for("gateway"), schema="gateway")
    try:
        await ensure_demo_accounts(gateway, DemoReport())
    finally:
        await gateway.dispose()
    result = await city_data.load(settings, plan, await hash_password(city_data.PASSWORD))
    loaded = {
        **asdict(result),
        "scale": plan.scale,
        "communities": len(plan.communities),
        "streets": len(plan.streets),
        "load": result.figures,
    }
    loaded.pop("figures")
    conn = await asyncpg.connect(PG_SERVER)
    try:  # kept with the database, for BENCH_CITY_REUSE
        text = json.dumps(loaded).replace("'", "''")
        await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{text}'")
    finally:
        await conn.close()
    return loaded


async def _measure(platform: Platform, settings: Settings, loaded: dict) -> dict:
    client = Client()
    measure = Measure(platform, client, settings, loaded)
    try:
        await measure.tokens()
        figures = {
            "scores": await measure.scores(),
            "registration_rate": await measure.registration_rate(),
            "case_kpis": await measure.case_kpis(),
        }
        figures["full_sync"], figures["empty_delta"] = await measure.sync()
        figures["resident_list"] = await measure.resident_list()
        figures["peak_rss_mb_by_figure"] = measure.peaks
        return figures
    finally:
        await client.close()
        await measure.close()


# --- growth: two scales, and a province ------------------------------------------------------

# The figures compared between scales: a path into a stage's figures, and a name. The
# database's share (``*_sql_ms``) and the answers' sizes move far less with the machine's
# other work than the times through HTTP do: read a figure's growth beside its anchor's.
GROWTH = {
    "load_s": ("load", "seconds"),
    "database_mb": ("load", "database_mb"),
    "scores_cold_ms": ("scores", "cold_ms"),
    "scores_warm_p50_ms": ("scores", "warm", "p50_ms"),
    "scores_answer_kb": ("scores", "answer_kb"),
    "rate_cold_ms": ("registration_rate", "cold_ms"),
    "rate_warm_p50_ms": ("registration_rate", "warm", "p50_ms"),
    "kpis_cold_ms": ("case_kpis", "cold_ms"),
    "kpis_warm_p50_ms": ("case_kpis", "warm", "p50_ms"),
    "full_sync_gzip_kb": ("full_sync", "gzip_kb"),
    "full_sync_warm_p50_ms": ("full_sync", "largest_cell", "warm", "p50_ms"),
    "empty_delta_bytes": ("empty_delta", "bytes"),
    "resident_list_p50_ms": ("resident_list", "warm", "p50_ms"),
    "resident_list_p99_ms": ("resident_list", "warm", "p99_ms"),
    "scores_sql_ms": ("scores", "sql", "ms"),
    "scores_grid_kpis_part_ms": ("scores", "parts_direct_ms", "grid_kpis"),
    "rate_sql_ms": ("registration_rate", "sql", "ms"),
    "kpis_sql_ms": ("case_kpis", "sql", "ms"),
    "kpis_grouped_in_database_ms": ("case_kpis", "sql_grouped_in_database", "execution_ms"),
    "full_sync_sql_ms": ("full_sync", "sql", "ms"),
    "resident_list_sql_ms": ("resident_list", "sql", "ms"),
    **{f"peak_rss_{p}_mb": ("peak_rss_mb", p) for p in APP_PROCESSES},
}


def _at(figures: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(figures, dict) or key not in figures:
            return None
        figures = figures[key]
    return figures


def growth(stages: list[dict], province: float = 20.0) -> dict:
    """How each figure grew from the smaller scale to the larger, and where the same growth
    takes it at a province (``province`` times the city): a straight line through the two
    measurements (a fixed part and a part proportional to the size), and the power of the
    size it grew with (1 = in proportion, 0 = not at all)."""
    done = sorted(
        (s for s in stages if s.get("stage") == "city" and "error" not in s),
        key=lambda s: s["scale"],
    )
    if len(done) < 2 or done[0]["scale"] == done[-1]["scale"]:
        return {}
    small, large = done[0], done[-1]
    out = {"from_scale": small["scale"], "to_scale": large["scale"], "province_scale": province}
    for name, path in GROWTH.items():
        a, b = _at(small, path), _at(large, path)
        if not isinstance(a, int | float) or not isinstance(b, int | float) or a <= 0:
            continue
        slope = (b - a) / (large["scale"] - small["scale"])
        out[name] = {
            "small": a,
            "large": b,
            "factor": round(b / a, 2),
            "exponent": round(math.log(b / a) / math.log(large["scale"] / small["scale"]), 2)
            if b > 0
            else None,
            # A figure that shrank between the sizes did not grow with them (noise): it is
            # held at what was measured rather than run below zero.
            "province_linear": round(max(min(a, b), b + slope * (province - large["scale"])), 1),
        }
    return out


def main(argv: list[str]) -> None:
    if argv and argv[0] == "run":
        scale = float(argv[1]) if len(argv) > 1 else 1.0
        print(json.dumps(run(scale), ensure_ascii=False, default=str))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
