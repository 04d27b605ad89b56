"""Volunteer benchmarks (issue: Volunteer, "Speed").

python -m bench.volunteer signups sqlite|postgres [requests] [capacity]
python -m bench.volunteer rate sqlite|postgres [residents] [volunteers]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import timedelta

from sqlalchemy import text

from bench.common import Timer, peak_rss_mb, percentiles, platform_on
from bench.registry import create_areas, load_population
from bench.synthetic import COMMUNITIES, DISTRICT, id_number
from services.common.clock import clock


async def bench_signups(db: str, requests: int, capacity: int) -> dict:
    async with platform_on(db) as (app, client, auth):
        await create_areas(client, auth)
        community = COMMUNITIES[0]
        start = clock.now() + timedelta(days=1)
        r = await client.post(
            "/api/v1/volunteer/activities",
            headers=auth,
            json={
                "community_code": community,
                "title": "义诊",
                "category": "health",
                "capacity": capacity,
                "start_at": start.isoformat(),
                "end_at": (start + timedelta(hours=2)).isoformat(),
            },
        )
        activity = r.json()["id"]
        import random

        rng = random.Random(5)
        tokens = []
        for i in range(requests):
            number = id_number(rng, 10_000_000 + i)
            await client.post(
                "/api/v1/registry/residents",
                headers=auth,
                json={"name": "甲", "id_number": number, "community_code": community},
            )
            login = await client.post("/api/v1/auth/wechat", json={"code": f"test:bench{i}"})
            token = login.json()["access_token"]
            reg = await client.post(
                "/api/v1/volunteer/volunteers",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "name": "甲",
                    "id_number": number,
                    "phone": "13700001234",
                    "community_code": community,
                },
            )
            assert reg.json()["status"] == "active", reg.text
            tokens.append(token)

        async def one(token: str) -> tuple[float, dict]:
            t0 = time.perf_counter()
            resp = await client.post(
                f"/api/v1/volunteer/activities/{activity}/signups",
                headers={"Authorization": f"Bearer {token}"},
            )
            return (time.perf_counter() - t0) * 1000, resp.json()

        with Timer() as burst:
            results = await asyncio.gather(*(one(t) for t in tokens))
        statuses = [body["status"] for _, body in results]
        confirmed = sorted(body["position"] for _, body in results if body["status"] == "confirmed")
    return {
        "stage": "signups",
        "db": db,
        "requests": requests,
        "capacity": capacity,
        "confirmed": statuses.count("confirmed"),
        "waitlisted": statuses.count("waitlisted"),
        "confirmed_are_first_arrivals": confirmed == list(range(1, capacity + 1)),
        "burst_s": round(burst.seconds, 2),
        "signups_per_s": round(requests / burst.seconds),
        "latency": percentiles([ms for ms, _ in results]),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


async def bench_rate(db: str, residents: int, volunteers: int) -> dict:
    async with platform_on(db) as (app, client, auth):
        await create_areas(client, auth)
        await load_population(app, residents)
        await client.post(f"/api/v1/registry/areas/{DISTRICT}/recount", headers=auth)
        vol = next(a for a in app.state.embedded_apps if a.state.component == "volunteer")
        database = vol.state.database
        values = ", ".join(f"({i}, '{c}')" for i, c in enumerate(COMMUNITIES))
        k = len(COMMUNITIES)
        if database.is_sqlite:
            seq = f"WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < {volunteers}), communities(ci, code) AS (VALUES {values})"
            pad, now = "printf('%064d', i)", "'2026-01-01 00:00:00'"
            vid, num = "printf('v%09d', i)", "printf('V%09d', i)"
        else:
            seq = f"WITH seq(i) AS (SELECT generate_series(0, {volunteers - 1})), communities(ci, code) AS (VALUES {values})"
            pad, now = "lpad(i::text, 64, '0')", "now()"
            vid, num = "'v' || lpad(i::text, 9, '0')", "'V' || lpad(i::text, 9, '0')"
        with Timer() as load:
            async with database.engine.begin() as conn:
                await conn.execute(
                    text(f"""
                    INSERT INTO volunteers (id, number, user_id, community_code, name, id_number_enc, id_number_index,
                        id_number_masked, birth_date, phone_enc, phone_masked, skills, in_service_party_member, status,
                        created_at, updated_at)
                    {seq} SELECT {vid}, {num}, {vid}, code, '甲', 'v1.x', {pad}, '410105********0000', '1980-01-01',
                        'v1.x', '138****0000', '[]', false, CASE WHEN i % 20 = 0 THEN 'pending' ELSE 'active' END, {now}, {now}
                    FROM seq JOIN communities ON communities.ci = i % {k}""")
                )
                await conn.execute(
                    text(f"""
                    INSERT INTO hours_entries (id, volunteer_id, community_code, kind, service_date, hours, status, entered_by, created_at)
                    {seq} SELECT {vid}, {vid}, code, 'activity', '2026-10-01', 2, 'approved', 'bench', {now}
                    FROM seq JOIN communities ON communities.ci = i % {k} WHERE i % 3 = 0""")
                )
                # What approving those lines keeps on each volunteer (as the migration fills it).
                await conn.execute(
                    text(
                        "UPDATE volunteers SET last_served_on = (SELECT max(h.service_date)"
                        " FROM hours_entries h WHERE h.volunteer_id = volunteers.id"
                        " AND h.status = 'approved' AND h.hours > 0)"
                    )
                )
            async with database.engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
                await conn.commit()
        samples = []
        body = None
        for _ in range(10):
            t0 = time.perf_counter()
            r = await client.get(
                "/api/v1/volunteer/stats/registration-rate", params={"area": DISTRICT}, headers=auth
            )
            samples.append((time.perf_counter() - t0) * 1000)
            body = r.json()
            assert r.status_code == 200, r.text
    return {
        "stage": "rate",
        "db": db,
        "residents": body["residents"],
        "volunteers": body["volunteers"],
        "rate": body["rate"],
        "children": len(body["children"]),
        "load_s": round(load.seconds, 1),
        "first_ms": round(samples[0], 1),
        "rate_request": percentiles(samples),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str]) -> None:
    stage, db = argv[0], argv[1]
    if stage == "signups":
        figures = asyncio.run(
            bench_signups(
                db, int(argv[2]) if len(argv) > 2 else 500, int(argv[3]) if len(argv) > 3 else 50
            )
        )
    else:
        figures = asyncio.run(
            bench_rate(
                db,
                int(argv[2]) if len(argv) > 2 else 1_000_000,
                int(argv[3]) if len(argv) > 3 else 100_000,
            )
        )
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
