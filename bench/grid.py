"""Grid benchmarks (issue: Grid, "Speed").

python -m bench.grid locate sqlite|postgres [cells]
python -m bench.grid sync sqlite|postgres [households]
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import sys
import time

from bench.common import Timer, peak_rss_mb, percentiles, platform_on
from bench.synthetic import COMMUNITIES, areas
from services.grid.geometry import CellIndex
from services.grid.models import Cell


def cell_square(row: int, col: int, size: float = 0.004) -> dict:
    lat, lng = 34.50 + row * size, 113.30 + col * size
    ring = [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


async def create_areas(client, auth) -> None:
    for code, name in areas():
        await client.post("/api/v1/registry/areas", json={"code": code, "name": name}, headers=auth)


async def bench_locate(db: str, cells: int) -> dict:
    """6,000 cells (seed 002's city has 5,856) in a grid of squares, written straight to the
    table; then lookups in process and through the gateway."""
    side = int(cells**0.5) + 1
    async with platform_on(db) as (app, client, auth):
        grid = next(a for a in app.state.embedded_apps if a.state.component == "grid")
        per_community = cells // len(COMMUNITIES) + 1
        with Timer() as load:
            async with grid.state.database.transaction() as session:
                for i in range(cells):
                    community = COMMUNITIES[i // per_community]
                    session.add(
                        Cell(
                            code=f"{community}{i % per_community + 1:03d}",
                            community_code=community,
                            name=f"网格{i}",
                            kind="comprehensive",
                            boundary=cell_square(i // side, i % side),
                        )
                    )
        with Timer() as build:
            await grid.state.grid.rebuild(grid.state.database)
        index: CellIndex = grid.state.grid.index
        rng = random.Random(1)
        points = [
            (34.50 + rng.random() * side * 0.004, 113.30 + rng.random() * side * 0.004)
            for _ in range(200_000)
        ]
        start = time.perf_counter()
        found = sum(1 for lat, lng in points if index.locate(lat, lng))
        in_process = len(points) / (time.perf_counter() - start)
        samples = []
        for lat, lng in points[:1000]:
            t0 = time.perf_counter()
            r = await client.get(
                "/api/v1/grid/locate", params={"lat": lat, "lng": lng}, headers=auth
            )
            samples.append((time.perf_counter() - t0) * 1000)
            assert r.status_code in (200, 404)
    return {
        "stage": "locate",
        "db": db,
        "cells": cells,
        "load_s": round(load.seconds, 2),
        "index_build_s": round(build.seconds, 3),
        "in_process_lookups_per_s": round(in_process),
        "hit_share": round(found / len(points), 3),
        "gateway_locate": percentiles(samples),
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


def main(argv: list[str]) -> None:
    stage, db = argv[0], argv[1]
    if stage == "locate":
        figures = asyncio.run(bench_locate(db, int(argv[2]) if len(argv) > 2 else 6000))
    else:
        figures = asyncio.run(bench_sync(db, int(argv[2]) if len(argv) > 2 else 500))
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
