"""The figures over a subtree stay exact whoever writes the residents — the form, an edit, a
move-out, an import, many workers at once — and minors are counted on the day asked."""

from __future__ import annotations

import asyncio
import os
from datetime import date, timedelta

import asyncpg
import pytest
from alembic import command
from sqlalchemy import make_url, text

from gateway.components import MIGRATION_TREES
from services.common.clock import clock, start_of_day
from services.common.database import Database
from services.common.migrations import alembic_config
from services.common.settings import DEMO_PASSWORD
from tests.factories import csv_roster
from tests.support import drop_database, fresh_database, make_id_number


async def _add(caller, community: str, born: date | None = None, **extra) -> str:
    r = await caller.post(
        "/api/v1/registry/residents",
        json={
            "name": "居民",
            "id_number": make_id_number(born),
            "community_code": community,
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _move_out(caller, resident_id: str) -> None:
    r = await caller.post(
        f"/api/v1/registry/residents/{resident_id}/move-out",
        json={"moved_out_on": clock.today().isoformat(), "reason": "迁出"},
    )
    assert r.status_code == 200, r.text


async def _figures_agree_with_a_recount(api, community: str) -> dict:
    running = (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()
    rebuilt = (await api.admin.post(f"/api/v1/registry/areas/{community}/recount")).json()
    assert running == rebuilt
    return running


async def test_minors_are_counted_on_the_day_asked_with_nothing_written(
    api, settings, new_community
):
    """A child who turns 14 leaves the minors that day; the count follows the calendar
    without any write, also on 29 February when 14 years ago had no such day."""
    assert settings.minor_age == 14  # the birth dates below are drawn around 14th birthdays
    community = await new_community()
    for born in (
        date(1980, 1, 1),
        date(2013, 1, 5),
        date(2013, 6, 15),
        date(2013, 6, 16),
        date(2013, 12, 31),
        date(2014, 2, 28),
        date(2014, 3, 1),
        date(2014, 12, 31),
        date(2020, 2, 2),
    ):
        await _add(api.admin, community, born)

    async def minors_on(day: date) -> int:
        clock.set(start_of_day(day) + timedelta(hours=10))
        admin = await api.login("demo-admin", DEMO_PASSWORD)  # a token of that day
        stats = await admin.get(f"/api/v1/registry/areas/{community}/stats")
        assert stats.status_code == 200, stats.text
        listed = (
            await admin.get("/api/v1/registry/residents", params={"community": community})
        ).json()["items"]
        # The figure and the mark on each resident draw the same line.
        assert stats.json()["minors"] == sum(r["minor"] for r in listed)
        return stats.json()["minors"]

    assert await minors_on(date(2027, 6, 15)) == 6  # born 2013-06-15 is 14 today
    assert await minors_on(date(2027, 6, 16)) == 5
    assert await minors_on(date(2028, 1, 1)) == 4
    assert await minors_on(date(2028, 2, 29)) == 3  # born 2014-02-28 turned 14 yesterday
    assert await minors_on(date(2028, 3, 1)) == 2


async def test_the_figures_stay_exact_through_edits_move_outs_and_imports(api, new_community):
    community = await new_community()
    child = await _add(api.admin, community, date(2018, 5, 5), tags=["party_member"])
    await _add(api.admin, community, date(2015, 9, 9))
    moving = await _add(api.admin, community, date(2020, 7, 7), residence_type="floating")
    adult = await _add(api.admin, community, date(1985, 1, 1))
    await _add(api.admin, community, date(1950, 1, 1), tags=["elderly"])
    assert (await _figures_agree_with_a_recount(api, community))["minors"] == 3

    # A mistyped ID number put right moves a person across the line, both ways.
    for rid, born in ((child, date(1990, 5, 5)), (adult, date(2019, 1, 1))):
        r = await api.admin.patch(
            f"/api/v1/registry/residents/{rid}", json={"id_number": make_id_number(born)}
        )
        assert r.status_code == 200, r.text
    assert (await _figures_agree_with_a_recount(api, community))["minors"] == 3
    await _move_out(api.admin, moving)
    figures = await _figures_agree_with_a_recount(api, community)
    assert (figures["minors"], figures["residents"]) == (2, 4)

    rows = [
        ["甲", make_id_number(date(2016, 4, 4)), "", community, "", "", "", "户籍", "", ""],
        ["乙", make_id_number(date(2021, 8, 8)), "", community, "", "", "", "流动", "", ""],
        ["丙", make_id_number(date(1970, 3, 3)), "", community, "", "", "", "常住", "党员", ""],
    ]
    for _ in range(2):  # the second time, a changed name is an update
        r = await api.admin.post(
            "/api/v1/registry/imports",
            data={"kind": "residents"},
            files={"file": ("roster.csv", csv_roster(rows), "text/csv")},
        )
        job = (await api.admin.get(f"/api/v1/registry/imports/{r.json()['id']}")).json()
        assert job["status"] == "done" and job["failed"] == 0, job
        rows[0][0] = "甲改名"
    figures = await _figures_agree_with_a_recount(api, community)
    assert (figures["minors"], figures["residents"], figures["party_members"]) == (4, 7, 2)


async def test_many_workers_at_once_leave_the_figures_exact(api, new_community):
    community = await new_community()
    births = [date(2012 + i % 12, 1 + i % 12, 1 + i % 28) for i in range(12)]
    births += [date(1960 + i, 6, 6) for i in range(12)]
    made = await asyncio.gather(*(_add(api.admin, community, b) for b in births))
    # Some move out while others arrive, in the same moments.
    await asyncio.gather(
        *(_move_out(api.admin, rid) for rid in made[::3]),
        *(_add(api.admin, community, date(2019, 3, 3 + i)) for i in range(6)),
    )
    today = clock.today()
    expected = sum(
        1
        for i, b in enumerate(births)
        if i % 3 and (b.year + 14, b.month, b.day) > (today.year, today.month, today.day)
    )
    figures = await _figures_agree_with_a_recount(api, community)
    assert figures["residents"] == len(births) - len(made[::3]) + 6
    assert figures["minors"] == expected + 6


def test_an_upgraded_deployment_has_its_birth_years_counted_and_kept(tmp_path):
    """The migration counts the residents it finds; from then on the database keeps the
    counts whoever writes; a downgrade takes the counts and their keeping away."""
    settings, created = fresh_database(tmp_path)
    config = alembic_config("registry", MIGRATION_TREES["registry"], settings)

    async def sql(statement: str) -> list[tuple]:
        # An engine per call: each asyncio.run is a loop of its own (Alembic runs its own).
        database = Database(settings.database_url_for("registry"), schema="registry")
        try:
            async with database.engine.begin() as conn:
                result = await conn.execute(text(statement))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            await database.dispose()

    def resident(rid: str, born: str, status: str = "current") -> str:
        return (
            "INSERT INTO residents (id, community_code, name, id_number_enc, id_number_index,"
            " id_number_masked, gender, birth_date, residence_type, status, created_at,"
            f" updated_at) VALUES ('{rid}', '410105001001', '某', 'x', '{rid}', 'x', 'female',"
            f" '{born}', 'registered', '{status}', '2026-01-01', '2026-01-01')"
        )

    def born_counts() -> dict[str, int]:
        rows = asyncio.run(
            sql("SELECT value, n FROM population_counts WHERE dimension = 'born' AND n <> 0")
        )
        return dict(rows)

    try:
        command.upgrade(config, "c7d2e8a41f90")  # the last revision without them
        for statement in (
            resident("a", "2015-01-02"),
            resident("b", "2015-06-30"),
            resident("c", "1980-05-05"),
            resident("d", "2016-01-01", status="moved_out"),
        ):
            asyncio.run(sql(statement))
        command.upgrade(config, "head")
        assert born_counts() == {"2015": 2, "1980": 1}
        asyncio.run(sql(resident("e", "2016-03-03")))
        asyncio.run(sql("UPDATE residents SET status = 'moved_out' WHERE id = 'a'"))
        asyncio.run(sql("UPDATE residents SET status = 'current' WHERE id = 'd'"))
        asyncio.run(sql("UPDATE residents SET birth_date = '1981-05-05' WHERE id = 'c'"))
        asyncio.run(sql("DELETE FROM residents WHERE id = 'b'"))
        assert born_counts() == {"2016": 2, "1981": 1}
        command.downgrade(config, "c7d2e8a41f90")
        asyncio.run(sql(resident("f", "2017-07-07")))
        assert born_counts() == {}
    finally:
        if created:
            drop_database(created)


async def test_the_figures_name_what_they_count(api, new_community):
    """A community head reads the figures on a screen: each residence type and each tag
    counted carries its Chinese name beside the code the figures are keyed by, a
    deployment's own tag too, the same in the children's figures."""
    community = await new_community()
    code = "t" + make_id_number()[-8:].lower()
    r = await api.admin.post("/api/v1/registry/tags", json={"code": code, "name": "楼栋长"})
    assert r.status_code == 201, r.text
    await _add(api.admin, community, residence_type="registered", tags=["elderly", code])
    await _add(api.admin, community, residence_type="floating")
    figures = (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()
    assert figures["by_residence_type"] == {"registered": 1, "permanent": 0, "floating": 1}
    assert figures["by_residence_type_names"] == {
        "registered": "户籍",
        "permanent": "常住",
        "floating": "流动",
    }
    assert figures["tags"] == {"elderly": 1, code: 1}
    assert figures["tag_names"] == {"elderly": "老年人", code: "楼栋长"}
    street = community[:9] + "000"
    children = (await api.admin.get(f"/api/v1/registry/areas/{street}/children/stats")).json()
    mine = next(c for c in children["children"] if c["code"] == community)
    assert mine["tag_names"] == {"elderly": "老年人", code: "楼栋长"}
    assert children["area"]["tag_names"][code] == "楼栋长"
    assert children["area"]["by_residence_type_names"]["floating"] == "流动"


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgresql"),
    reason="a PostgreSQL function's search path; SQLite has no schemas",
)
async def test_a_repair_by_hand_in_psql_keeps_the_counts(api, settings, new_community):
    """An operator fixes a birth date from psql, whose connection does not have the
    registry's search path: the counting trigger still finds its table, and the count moves."""
    community = await new_community()
    r = await api.street.post(
        "/api/v1/registry/residents",
        json={
            "name": "张三",
            "id_number": make_id_number(date(1980, 3, 3)),
            "community_code": community,
        },
    )
    assert r.status_code == 201, r.text
    child = clock.today().replace(year=clock.today().year - 5, day=1)
    url = make_url(settings.database_url_for("registry"))
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )
    try:
        await conn.execute(
            "UPDATE registry.residents SET birth_date = $1 WHERE id = $2", child, r.json()["id"]
        )
    finally:
        await conn.close()
    stats = (await api.street.get(f"/api/v1/registry/areas/{community}/stats")).json()
    assert (stats["residents"], stats["minors"]) == (1, 1), stats
