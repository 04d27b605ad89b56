"""Grid benchmarks (issue: Grid, "Speed").

python -m bench.grid locate sqlite|postgres [cells]
python -m bench.grid sync sqlite|postgres [households]
python -m bench.grid kpis sqlite|postgres [cases]
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import itertools
import json
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta

import numpy as np
import shapely
from shapely import Point, STRtree
from sqlalchemy import func, insert, select

from bench.common import Timer, peak_rss_mb, percentiles, platform_on
from bench.synthetic import COMMUNITIES, DISTRICT, areas
from services.common.clients.registry import BuildingRef
from services.common.clock import clock, local_zone
from services.grid.calendar import WorkCalendar
from services.grid.geometry import CellIndex
from services.grid.models import Case, Cell
from services.grid.service.cells import placements
from services.grid.service.state import GridState


def cell_square(row: int, col: int, size: float = 0.004) -> dict:
    lat, lng = 34.50 + row * size, 113.30 + col * size
    ring = [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


async def create_areas(client, auth) -> None:
    for code, name in areas():
        await client.post("/api/v1/registry/areas", json={"code": code, "name": name}, headers=auth)


def _best_rate(count: int, run, repeats: int = 3) -> tuple[float, float]:
    """Best and median rate (items per second) of ``repeats`` runs: the machine is shared,
    so the best is the figure and the median shows the noise."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(count / (time.perf_counter() - start))
    return max(rates), statistics.median(rates)


def rss_mb() -> float:
    """The process's resident memory now (``peak_rss_mb`` is the high-water mark)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class LoopWatch:
    """The longest the event loop went without running a 1 ms timer: what a request
    arriving then would have waited for before being read at all."""

    async def __aenter__(self):
        self.longest, self._done = 0.0, False
        self._task = asyncio.ensure_future(self._tick())
        return self

    async def _tick(self) -> None:
        while not self._done:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            self.longest = max(self.longest, time.perf_counter() - start - 0.001)

    async def __aexit__(self, *exc):
        self._done = True
        await self._task


async def _locates_during(client, auth, work, points) -> tuple[dict, float]:
    """Phones asking /locate one after another while ``work`` runs: their latencies, and
    the loop's longest stall meanwhile."""
    samples = []
    async with LoopWatch() as watch:
        task = asyncio.ensure_future(work)
        for lat, lng in itertools.cycle(points):
            t0 = time.perf_counter()
            r = await client.get(
                "/api/v1/grid/locate", params={"lat": lat, "lng": lng}, headers=auth
            )
            samples.append((time.perf_counter() - t0) * 1000)
            assert r.status_code in (200, 404), r.text
            # In process a locate never waits on I/O, so it never yields: give the work
            # its turn, as a server's sockets would.
            await asyncio.sleep(0)
            if task.done():
                break
        await task
    return percentiles(samples), watch.longest * 1000


async def bench_locate(db: str, cells: int) -> dict:
    """6,000 cells (seed 002's city has 5,856) in a grid of squares, written straight to the
    table; then lookups in process, one by one and in bulk, each against a bare shapely
    STRtree over the same cells and points (the anchor), through the gateway, and while
    the index is built again."""
    side = int(cells**0.5) + 1
    async with platform_on(db) as (app, client, auth):
        await create_areas(client, auth)
        grid = next(a for a in app.state.embedded_apps if a.state.component == "grid")
        state: GridState = grid.state.grid
        per_community = cells // len(COMMUNITIES) + 1
        with Timer() as load:
            async with grid.state.database.transaction() as session:
                for i in range(cells):
                    community = COMMUNITIES[i // per_community]
                    boundary = cell_square(i // side, i % side)
                    (lng0, lat0), _, (lng1, lat1) = boundary["coordinates"][0][:3]
                    session.add(
                        Cell(
                            code=f"{community}{i % per_community + 1:03d}",
                            community_code=community,
                            name=f"网格{i}",
                            kind="comprehensive",
                            boundary=boundary,
                            # the box the API keeps with a cell, for the overlap check
                            min_lat=lat0,
                            min_lng=lng0,
                            max_lat=lat1,
                            max_lng=lng1,
                        )
                    )
        rss_before = rss_mb()
        with Timer() as build:
            await state.rebuild(grid.state.database)
        index_rss = rss_mb() - rss_before
        index: CellIndex = state.index
        rng = random.Random(1)
        points = [
            (34.50 + rng.random() * side * 0.004, 113.30 + rng.random() * side * 0.004)
            for _ in range(200_000)
        ]
        lats = [p[0] for p in points]
        lngs = [p[1] for p in points]
        found = sum(1 for lat, lng in points if index.locate(lat, lng))

        # The anchor: the cells in code order in a bare STRtree, asked as shapely is asked.
        tree = STRtree(index.base.geometries)
        codes = index.base.codes

        def bare_one_by_one():
            for lat, lng in points:
                hits = tree.query(Point(lng, lat), predicate="intersects")
                _ = codes[int(hits.min())] if len(hits) else None

        one, one_typical = _best_rate(len(points), lambda: [index.locate(*p) for p in points])
        bare_one, _ = _best_rate(len(points), bare_one_by_one)

        # 100,000 buildings placed again in bulk, as after a change of cells: nine in ten
        # are in their cell already, the tenth moves (or had none).
        where = index.locate_many(lats[:100_000], lngs[:100_000])
        buildings = [
            BuildingRef(
                id=str(i),
                community_code=COMMUNITIES[0],
                lat=lats[i],
                lng=lngs[i],
                cell_code=where[i] if i % 10 else codes[i % len(codes)],
            )
            for i in range(100_000)
        ]
        bulk, bulk_typical = _best_rate(len(buildings), lambda: placements(index, buildings))
        many, _ = _best_rate(
            len(buildings), lambda: index.locate_many(lats[:100_000], lngs[:100_000])
        )

        def bare_bulk():
            query = shapely.points(np.asarray(lngs[:100_000]), np.asarray(lats[:100_000]))
            tree.query(query, predicate="intersects")

        bare_many, _ = _best_rate(len(buildings), bare_bulk)

        samples = []
        for lat, lng in points[:1000]:
            t0 = time.perf_counter()
            r = await client.get(
                "/api/v1/grid/locate", params={"lat": lat, "lng": lng}, headers=auth
            )
            samples.append((time.perf_counter() - t0) * 1000)
            assert r.status_code in (200, 404)

        # The figures' 300,000 points and 100,000 buildings would make every full garbage
        # collection a stall of its own (a server holds no such heap): out of the way first.
        buildings = where = None
        gc.collect()
        gc.freeze()
        # One cell moved through the API: found at once, folded in off the loop.
        code = codes[len(codes) // 2]
        moved = cell_square(side + 1, 0)
        with Timer() as change:
            r = await client.patch(
                f"/api/v1/grid/cells/{code}", json={"boundary": moved}, headers=auth
            )
        assert r.status_code == 200, r.text
        assert state.index.locate(34.50 + (side + 1.5) * 0.004, 113.302) == code
        with Timer() as fold:
            during_fold, fold_stall = await _locates_during(
                client, auth, state.settled(), points[:1000]
            )
        assert not state.index.changed
        # The whole index read and built again, as on a process's first request; and the
        # anchor: the same phones for as long, with nothing else running.
        with Timer() as rebuild:
            during_rebuild, rebuild_stall = await _locates_during(
                client, auth, state.rebuild(grid.state.database), points[:1000]
            )
        during_idle, idle_stall = await _locates_during(
            client, auth, asyncio.sleep(rebuild.seconds), points[:1000]
        )
        with Timer() as poll:  # one full comparison of every row's stamp
            await state.refreshed(grid.state.database)
    return {
        "stage": "locate",
        "db": db,
        "cells": cells,
        "load_s": round(load.seconds, 2),
        "index_build_s": round(build.seconds, 3),
        "index_rss_mb": round(index_rss, 1),
        "in_process_lookups_per_s": round(one),
        "in_process_lookups_per_s_typical": round(one_typical),
        "anchor_strtree_lookups_per_s": round(bare_one),
        "lookups_vs_anchor": round(one / bare_one, 2),
        "hit_share": round(found / len(points), 3),
        "bulk_reassign_per_s": round(bulk),
        "bulk_reassign_per_s_typical": round(bulk_typical),
        "bulk_locate_many_per_s": round(many),
        "anchor_strtree_bulk_query_per_s": round(bare_many),
        "bulk_reassign_vs_anchor": round(bulk / bare_many, 2),
        "gateway_locate": percentiles(samples),
        "one_change_answer_ms": round(change.seconds * 1000, 1),
        "one_change_fold_in_s": round(fold.seconds, 3),
        "gateway_locate_during_fold_in": during_fold,
        "loop_max_stall_during_fold_in_ms": round(fold_stall, 1),
        "gateway_locate_during_rebuild": during_rebuild,
        "loop_max_stall_during_rebuild_ms": round(rebuild_stall, 1),
        "rebuild_under_load_s": round(rebuild.seconds, 3),
        "gateway_locate_idle_anchor": during_idle,
        "loop_max_stall_idle_anchor_ms": round(idle_stall, 1),
        "poll_scan_ms": round(poll.seconds * 1000, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


async def bench_sync(db: str, households: int) -> dict:
    """One cell of ``households`` households (three residents each), its worker's full sync
    and an empty delta: size raw and gzipped, and time."""
    async with platform_on(db, import_inline_max_bytes=10**9) as (app, client, auth):
        await create_areas(client, auth)
        community = COMMUNITIES[0]
        r = await client.post(
            "/api/v1/grid/cells",
            json={
                "community_code": community,
                "name": "大网格",
                "boundary": cell_square(0, 0, 0.02),
            },
            headers=auth,
        )
        cell = r.json()["code"]
        import csv
        import io

        from bench.synthetic import id_number

        rows = io.StringIO()
        writer = csv.writer(rows)
        writer.writerow(
            [
                "姓名",
                "身份证号",
                "手机号",
                "社区代码",
                "楼栋",
                "门牌号",
                "与户主关系",
                "居住类型",
                "标签",
            ]
        )
        rng = random.Random(3)
        for i in range(households * 3):
            h = i // 3
            writer.writerow(
                [
                    "居民" + str(i),
                    id_number(rng, i),
                    f"138{i:08d}",
                    community,
                    f"{h // 60 + 1}号楼",
                    f"{h % 60 + 101}",
                    "户主" if i % 3 == 0 else "家属",
                    "户籍",
                    "党员" if i % 10 == 0 else "",
                ]
            )
        r = await client.post(
            "/api/v1/registry/imports",
            data={"kind": "residents", "create_buildings": "true"},
            files={"file": ("r.csv", rows.getvalue().encode("utf-8-sig"), "text/csv")},
            headers=auth,
        )
        assert r.status_code == 202, r.text
        buildings = (
            await client.get(
                "/api/v1/registry/buildings",
                params={"community": community, "limit": 100},
                headers=auth,
            )
        ).json()
        # Place the buildings inside the cell (they came without coordinates).
        for b in buildings["items"]:
            await client.patch(
                f"/api/v1/registry/buildings/{b['id']}",
                json={"lat": 34.505, "lng": 113.305},
                headers=auth,
            )
        await client.post(
            "/api/v1/registry/buildings/cell-assignments",
            headers=auth,
            json={
                "assignments": [
                    {"building_id": b["id"], "cell_code": cell} for b in buildings["items"]
                ]
            },
        )
        username = "bench-grid"
        r = await client.post(
            "/api/v1/users",
            headers=auth,
            json={
                "username": username,
                "password": "bench-pass-1",
                "role": "grid_worker",
                "scope": [community],
            },
        )
        worker_id = r.json()["id"]
        await client.put(
            f"/api/v1/grid/cells/{cell}/members", json={"workers": [worker_id]}, headers=auth
        )
        # Sync windows overlap by a few seconds; let the setup age past that, as real data has.
        from datetime import timedelta

        from services.common.clock import clock

        clock.advance(timedelta(seconds=30))
        token = (
            await client.post(
                "/api/v1/auth/token", json={"username": username, "password": "bench-pass-1"}
            )
        ).json()["access_token"]
        worker = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
        with Timer() as full_t:
            full = await client.get("/api/v1/grid/sync", headers=worker)
        body = full.json()
        raw = json.dumps(body, ensure_ascii=False).encode()
        clock.advance(timedelta(seconds=30))
        token = (
            await client.post(
                "/api/v1/auth/token", json={"username": username, "password": "bench-pass-1"}
            )
        ).json()["access_token"]
        worker["Authorization"] = f"Bearer {token}"
        with Timer() as delta_t:
            delta = await client.get(
                "/api/v1/grid/sync", params={"cursor": body["cursor"]}, headers=worker
            )
        delta_raw = delta.content
        clock.reset()
    return {
        "stage": "sync",
        "db": db,
        "households": households,
        "residents": len(body["residents"]),
        "full_sync_kb": round(len(raw) / 1024, 1),
        "full_sync_gzip_kb": round(len(gzip.compress(raw)) / 1024, 1),
        "full_sync_ms": round(full_t.seconds * 1000, 1),
        "empty_delta_bytes": len(delta_raw),
        "empty_delta_gzip_bytes": len(gzip.compress(delta_raw)),
        "empty_delta_ms": round(delta_t.seconds * 1000, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


async def bench_kpis(db: str, cases: int) -> dict:
    """``cases`` cases of last year in 6,000 cells of 200 communities, written straight to
    the table; the year's KPIs per community, street and cell through the gateway, against
    the anchor: a bare GROUP BY count over the same rows in the same run."""
    async with platform_on(db) as (app, client, auth):
        grid = next(a for a in app.state.embedded_apps if a.state.component == "grid")
        year = clock.today().year - 1
        start = datetime(year, 1, 1, tzinfo=local_zone())
        rng = random.Random(5)
        calendar = WorkCalendar(zone=local_zone())
        with Timer() as load:
            for first in range(0, cases, 5000):
                rows = []
                for i in range(first, min(cases, first + 5000)):
                    cell = (
                        f"{COMMUNITIES[i % len(COMMUNITIES)]}{i // len(COMMUNITIES) % 30 + 1:03d}"
                    )
                    created = start + timedelta(minutes=rng.randrange(365 * 24 * 60))
                    kind = rng.random()
                    status = "closed" if kind < 0.6 else "rejected" if kind < 0.7 else "dispatched"
                    worked = status == "closed" or (status == "dispatched" and kind < 0.85)
                    dispatched = created + timedelta(hours=rng.randrange(1, 24))
                    handled = dispatched + timedelta(hours=rng.randrange(1, 72))
                    rows.append(
                        {
                            "id": f"{i:036d}",
                            "category_code": "01.01",
                            "description": "暴露垃圾",
                            "cell_code": cell,
                            "community_code": cell[:12],
                            "source": "grid_worker",
                            "priority": "normal",
                            "status": status,
                            "photos": [],
                            "deadline_at": created + timedelta(days=rng.randrange(1, 400)),
                            "dispatched_at": dispatched if worked else None,
                            "handled_at": handled if worked else None,
                            # what the workflow keeps when a case is handled
                            "handling_hours": calendar.working_hours_between(dispatched, handled)
                            if worked
                            else None,
                            "closed_on_time": rng.random() < 0.7 if status == "closed" else None,
                            "rework_count": 1 if rng.random() < 0.1 else 0,
                            "created_at": created,
                            "updated_at": created,
                        }
                    )
                async with grid.state.database.transaction() as session:
                    await session.execute(insert(Case), rows)
        period_start, period_end = start, datetime(year + 1, 1, 1, tzinfo=local_zone())

        async def bare_group_by():
            async with grid.state.database.transaction(write=False) as session:
                community = func.substr(Case.cell_code, 1, 12)
                stmt = (
                    select(community, func.count())
                    .where(Case.created_at >= period_start, Case.created_at < period_end)
                    .group_by(community)
                )
                return (await session.execute(stmt)).all()

        async def kpis(group_by: str) -> list[dict]:
            r = await client.get(
                "/api/v1/grid/cases/kpis",
                params={"area": DISTRICT, "period": str(year), "group_by": group_by},
                headers=auth,
            )
            assert r.status_code == 200, r.text
            return r.json()["rows"]

        async def timed(work, repeats: int = 3) -> tuple[float, float, object]:
            seconds, result = [], None
            for _ in range(repeats):
                t0 = time.perf_counter()
                result = await work()
                seconds.append(time.perf_counter() - t0)
            return min(seconds), statistics.median(seconds), result

        rss_before, peak_before = rss_mb(), peak_rss_mb()
        figures = {}
        for group_by in ("community", "street", "cell"):
            best, typical, rows = await timed(lambda g=group_by: kpis(g))
            figures[f"kpis_per_{group_by}_ms"] = round(best * 1000, 1)
            figures[f"kpis_per_{group_by}_ms_typical"] = round(typical * 1000, 1)
            figures[f"kpis_per_{group_by}_rows"] = len(rows)
        rss_after = rss_mb()
        anchor, _, counted = await timed(bare_group_by)
        total = sum(n for _, n in counted)
    return {
        "stage": "kpis",
        "db": db,
        "cases": cases,
        "cases_in_period": total,
        "load_s": round(load.seconds, 2),
        **figures,
        "anchor_bare_group_by_count_ms": round(anchor * 1000, 1),
        "kpis_per_community_vs_anchor": round(figures["kpis_per_community_ms"] / anchor / 1000, 2),
        "rss_growth_during_kpis_mb": round(rss_after - rss_before, 1),
        "peak_rss_before_kpis_mb": round(peak_before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str]) -> None:
    stage, db = argv[0], argv[1]
    if stage == "locate":
        figures = asyncio.run(bench_locate(db, int(argv[2]) if len(argv) > 2 else 6000))
    elif stage == "kpis":
        figures = asyncio.run(bench_kpis(db, int(argv[2]) if len(argv) > 2 else 200_000))
    else:
        figures = asyncio.run(bench_sync(db, int(argv[2]) if len(argv) > 2 else 500))
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
