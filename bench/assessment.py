"""Assessment benchmark (issue: Assessment, "Speed"): scores for a district of 200
communities with every service populated, cold.

    python -m bench.assessment scores sqlite|postgres [residents]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import date

from bench.common import peak_rss_mb, platform_on
from bench.registry import create_areas, load_population
from bench.synthetic import COMMUNITIES, DISTRICT
from services.assessment.models import Agreement, FulfilmentRecord, Meeting, Pledge
from services.common.clock import clock
from services.common.ids import new_id


async def bench_scores(db: str, residents: int) -> dict:
    year = clock.now().year
    async with platform_on(db) as (app, client, auth):
        await create_areas(client, auth)
        for code in COMMUNITIES:
            await client.patch(
                f"/api/v1/registry/areas/{code}",
                headers=auth,
                json={
                    "office_area_m2": 350,
                    "service_area_m2": 400,
                    "activity_venue_m2": 220,
                    "full_time_staff": 9,
                    "annual_funding_yuan": 150000,
                },
            )
        await load_population(app, residents)
        await client.post(f"/api/v1/registry/areas/{DISTRICT}/recount", headers=auth)
        assessment = next(a for a in app.state.embedded_apps if a.state.component == "assessment")
        async with assessment.state.database.transaction() as session:
            for i, code in enumerate(COMMUNITIES):
                session.add(
                    Meeting(
                        id=new_id(),
                        community_code=code,
                        day=date(year, 2, 1),
                        minutes="协调会",
                        created_by="bench",
                    )
                )
                for u in range(5):
                    agreement = Agreement(
                        id=new_id(),
                        root_id="",
                        unit_id=f"unit-{i}-{u}",
                        unit_name=f"单位{i}-{u}",
                        community_code=code,
                        title="共建",
                        term_start=date(year, 1, 1),
                        term_end=date(year, 12, 31),
                        status="active",
                        unit_signed_at=clock.now(),
                        community_signed_at=clock.now(),
                        created_by="bench",
                    )
                    agreement.root_id = agreement.id
                    session.add(agreement)
                    pledge = Pledge(
                        id=new_id(),
                        agreement_id=agreement.id,
                        category="services",
                        description="便民服务",
                        target_quantity=1,
                        target_unit="times",
                        per="quarter",
                    )
                    session.add(pledge)
                    await session.flush()  # the records below point at it
                    for q in range(u % 5):
                        session.add(
                            FulfilmentRecord(
                                id=new_id(),
                                pledge_id=pledge.id,
                                agreement_id=agreement.id,
                                unit_id=agreement.unit_id,
                                community_code=code,
                                day=date(year, 3 * q + 1, 15),
                                quantity=1,
                                description="服务",
                                status="confirmed",
                                created_by="bench",
                            )
                        )
        t0 = time.perf_counter()
        r = await client.get(
            "/api/v1/assessment/scores",
            params={"area": DISTRICT, "period": str(year), "live": "true"},
            headers=auth,
        )
        cold = time.perf_counter() - t0
        body = r.json()
        assert r.status_code == 200, r.text
        t0 = time.perf_counter()
        await client.get(
            "/api/v1/assessment/scores",
            params={"area": DISTRICT, "period": str(year), "live": "true"},
            headers=auth,
        )
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        units = await client.get(
            "/api/v1/assessment/unit-scores",
            params={"area": DISTRICT, "period": str(year)},
            headers=auth,
        )
        unit_s = time.perf_counter() - t0
    return {
        "stage": "scores",
        "db": db,
        "communities": len(body["communities"]),
        "residents": residents,
        "indicators": len(body["communities"][0]["indicators"]),
        "scores_cold_ms": round(cold * 1000, 1),
        "scores_warm_ms": round(warm * 1000, 1),
        "unit_scores_ms": round(unit_s * 1000, 1),
        "units": len(units.json()["units"]),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str]) -> None:
    print(
        json.dumps(
            asyncio.run(bench_scores(argv[1], int(argv[2]) if len(argv) > 2 else 1_000_000)),
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
