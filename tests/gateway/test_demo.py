"""What ``make run`` shows a newcomer: every role logs in to something to do — a case on the
grid, a team to join, an agreement with a record to confirm, an application for the street
to recommend — and loading the demo twice adds nothing."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.app import create_app
from gateway.components import migrate_all
from gateway.demo import COMMUNITY, load_demo_data
from services.common.settings import DEMO_PASSWORD
from tests.support import drop_database, fresh_database


@pytest.fixture
async def demo_settings(tmp_path):
    """A database of its own (the suite's helper): the demo community must start empty."""
    settings, name = await asyncio.to_thread(fresh_database, tmp_path)
    settings = settings.model_copy(
        update={"log_json": False, "outbox_poll_s": 0, "demo_data": False}
    )
    await asyncio.to_thread(migrate_all, settings)  # alembic runs its own event loop
    yield settings
    if name:
        await asyncio.to_thread(drop_database, name)


async def test_every_demo_login_has_something_to_do_and_a_second_load_adds_nothing(
    demo_settings,
):
    first = await load_demo_data(demo_settings)
    assert first.created and not first.kept
    second = await load_demo_data(demo_settings)
    assert not second.created and second.kept

    app = create_app(demo_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:

            async def as_(username: str) -> dict[str, str]:
                r = await http.post(
                    "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}
                )
                assert r.status_code == 200, r.text
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

            async def inbox_kinds(headers) -> list[str]:
                r = await http.get("/api/v1/notifications", headers=headers)
                return [n["kind"] for n in r.json()["items"] if n["settled_at"] is None]

            grid = await as_("demo-grid")
            cases = (await http.get("/api/v1/grid/cases", headers=grid)).json()["items"]
            assert cases, "the grid worker has a case to look at"
            assert "case_dispatched" in await inbox_kinds(grid)

            community = await as_("demo-community")
            teams = await http.get(
                "/api/v1/volunteer/teams", params={"community": COMMUNITY}, headers=community
            )
            assert teams.status_code == 200, teams.text
            assert any(t["joining"] == "open" for t in teams.json()["items"])
            assert {"record_to_confirm", "case_reported"} <= set(await inbox_kinds(community))

            unit = await as_("demo-unit")
            agreements = (await http.get("/api/v1/assessment/agreements", headers=unit)).json()
            assert [a["status"] for a in agreements["items"]] == ["active"]

            street = await as_("demo-street")
            assert "application_step" in await inbox_kinds(street)
            applications = await http.get("/api/v1/assessment/applications", headers=street)
            assert [a["status"] for a in applications.json()["items"]] == ["submitted"]


def test_the_demo_roster_reads_like_a_real_one():
    """Daughters are women, fathers men: each relation to the head fits the gender the ID
    number gives, as a community worker reading the demo would expect."""
    import csv
    import io

    from gateway.demo import demo_residents_csv
    from services.common.clock import clock

    rows = list(csv.DictReader(io.StringIO(demo_residents_csv(clock.today()).decode("utf-8-sig"))))
    men_only, women_only = {"子", "父亲"}, {"女", "母亲"}
    odd = [
        (r["姓名"], r["与户主关系"])
        for r in rows
        if r["与户主关系"] in (men_only if int(r["身份证号"][16]) % 2 == 0 else women_only)
    ]
    assert rows and odd == []
