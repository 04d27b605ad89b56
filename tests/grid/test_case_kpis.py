"""Case KPIs over a month of cases as a street office reads them: the month runs from
midnight to midnight Beijing time, an open case past its deadline is overdue but a case
closed late is not, and a period without cases has no rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gateway.components import MIGRATION_TREES
from services.common.clock import clock, to_local
from services.common.database import Database
from services.common.migrations import alembic_config
from services.common.settings import DEMO_PASSWORD
from services.grid.models import Case
from tests.factories import STREET_A, report, setup_cell, step, uploaded
from tests.support import drop_database, fresh_database, unique

BEIJING = timezone(timedelta(hours=8))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    """A moment as a phone in Beijing writes it."""
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


@pytest.fixture
def grid_app(app):
    return next(sub for sub in app.state.embedded_apps if sub.state.component == "grid")


@pytest.fixture
async def month(grid_app, new_community):
    """Ten cases around March 2025 in two communities of one street, written straight to
    the table (the workflow would need the clock walked through a month)."""
    a, b = await new_community(STREET_A), await new_community(STREET_A)
    a1, a2, b1 = f"{a}001", f"{a}002", f"{b}001"
    past, far = at("2025-03-20T09:00"), at("2099-01-01T00:00")
    rows = [
        # the first moment of March in Beijing (still February 28 in UTC): in
        dict(
            cell=a1,
            created=at("2025-03-01T00:00:00"),
            status="closed",
            closed_on_time=True,
            dispatched=at("2025-03-04T10:00"),
            handled=at("2025-03-04T12:30"),  # 2.5 working hours
            deadline=at("2025-03-04T17:00"),
        ),
        # closed late, after rework: closed, not on time, not overdue
        dict(
            cell=a1,
            created=at("2025-03-01T00:30"),
            status="closed",
            closed_on_time=False,
            rework=1,
            dispatched=at("2025-03-04T09:00"),
            handled=at("2025-03-05T10:00"),  # 8.5 + 1 working hours
            deadline=at("2025-03-04T12:00"),
        ),
        # the last moment of March in Beijing, open past its deadline: overdue
        dict(cell=a1, created=at("2025-03-31T23:59:59"), status="dispatched", deadline=past),
        # midnight April 1st in Beijing (March 31 in UTC), and a second before March: out
        dict(cell=a1, created=at("2025-04-01T00:00:00"), status="dispatched", deadline=past),
        dict(cell=a1, created=at("2025-02-28T23:59:59"), status="dispatched", deadline=past),
        # open, its deadline ahead: not overdue
        dict(cell=a2, created=at("2025-03-10T10:00"), status="reported", deadline=far),
        # rejected past its deadline: neither open nor closed
        dict(cell=a2, created=at("2025-03-10T11:00"), status="rejected", deadline=past),
        # handled, no deadline: counts for handling time only
        dict(
            cell=a2,
            created=at("2025-03-10T12:00"),
            status="handled",
            dispatched=at("2025-03-11T09:00"),
            handled=at("2025-03-11T10:00"),
        ),
        # closed with no on-time verdict, reworked twice, never dispatched
        dict(cell=a2, created=at("2025-03-12T08:00"), status="closed", rework=2),
        # verified, past its deadline: overdue; handled without a dispatch: no handling time
        dict(
            cell=b1,
            created=at("2025-03-15T08:00"),
            status="verified",
            deadline=past,
            handled=at("2025-03-16T10:00"),
        ),
    ]
    async with grid_app.state.database.transaction() as session:
        for row in rows:
            session.add(
                Case(
                    id=unique("kpi")[:36],
                    category_code="01.01",
                    description="月度考核",
                    cell_code=row["cell"],
                    community_code=row["cell"][:12],
                    source="grid_worker",
                    priority="normal",
                    status=row["status"],
                    deadline_at=row.get("deadline"),
                    dispatched_at=row.get("dispatched"),
                    handled_at=row.get("handled"),
                    closed_at=row["created"] + timedelta(days=5)
                    if row["status"] == "closed"
                    else None,
                    closed_on_time=row.get("closed_on_time"),
                    rework_count=row.get("rework", 0),
                    created_at=row["created"],
                    updated_at=row["created"],
                )
            )
    return a, b, a1, a2, b1


async def _kpis(api, area: str, period: str, group_by: str) -> list[dict]:
    r = await api.admin.get(
        "/api/v1/grid/cases/kpis", params={"area": area, "period": period, "group_by": group_by}
    )
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def _row(code, cases, closed, on_time, median, rework, overdue) -> dict:
    return {
        "code": code,
        "cases": cases,
        "closed": closed,
        "on_time_close_rate": on_time,
        "median_handling_hours": median,
        "rework_rate": rework,
        "overdue": overdue,
    }


async def test_a_months_kpis_per_cell_count_beijing_days_and_tell_late_from_overdue(api, month):
    a, _, a1, a2, _ = month
    assert await _kpis(api, a, "2025-03", "cell") == [
        _row(a1, 3, 2, 0.5, 6.0, 0.5, 1),
        _row(a2, 4, 1, 0.0, 1.0, 1.0, 0),
    ]


async def test_a_months_kpis_per_community_and_per_street(api, month):
    a, b, *_ = month
    street = a[:9]
    rows = await _kpis(api, street, "2025-03", "community")
    assert [r for r in rows if r["code"] in (a, b)] == [
        _row(a, 7, 3, 0.3333, 2.5, 0.6667, 1),
        _row(b, 1, 0, None, None, None, 1),
    ]
    [whole] = [r for r in await _kpis(api, street, "2025-03", "street") if r["code"] == street]
    assert whole["cases"] >= 8 and whole["closed"] >= 3 and whole["overdue"] >= 2


async def test_a_period_without_cases_has_no_rows(api, month):
    a, *_ = month
    assert await _kpis(api, a, "2024", "cell") == []
    # The second before March in Beijing is February's; midnight April 1st, the second
    # quarter's.
    assert await _kpis(api, a, "2025-02", "community") == [_row(a, 1, 0, None, None, None, 1)]
    assert await _kpis(api, a, "2025Q2", "cell") == [_row(f"{a}001", 1, 0, None, None, None, 1)]


def test_many_spans_count_the_very_working_hours_one_span_at_a_time_does():
    """Handling time over a holiday, a make-up Saturday, nights, weekends, within one day,
    across weeks, backwards: the running-total count is the day-by-day count, float for
    float."""
    import random

    from services.grid.calendar import WorkCalendar

    calendar = WorkCalendar(
        holidays=frozenset({at("2025-10-01T00:00").date(), at("2025-10-02T00:00").date()}),
        workdays=frozenset({at("2025-10-11T00:00").date()}),
    )
    rng = random.Random(8)
    base = at("2025-09-25T00:00")
    spans = []
    for _ in range(3000):
        begun = base + timedelta(
            seconds=rng.randrange(40 * 86_400), microseconds=rng.randrange(10**6)
        )
        spans.append((begun, begun + timedelta(seconds=rng.randrange(-3600, 20 * 86_400))))
    # Friday 17:00 to the make-up Saturday 09:30: half an hour each day
    spans += [(at("2025-10-10T17:00"), at("2025-10-11T09:30")), (base, base)]
    expected = [calendar.working_hours_between(s, e) for s, e in spans]

    def us(moment: datetime) -> int:  # as the database hands them over
        return (moment - EPOCH) // timedelta(microseconds=1)

    many = calendar.working_hours_many([us(s) for s, _ in spans], [us(e) for _, e in spans])
    assert many == expected
    assert expected[-2:] == [1.0, 0.0] and calendar.working_hours_many([], []) == []


async def test_handling_time_is_kept_when_a_case_is_handled_and_is_what_the_kpis_report(
    api, grid_app, new_community, spot, worker
):
    """Two cases reported on a Friday afternoon in Beijing: one dispatched at 16:30 and
    handled on Monday at 10:15 (1 h on Friday, 1.25 h on Monday), one dispatched at 19:00
    that evening and handled on Monday at 09:45 (0.75 h: the evening and the weekend do not
    count). Each keeps its working hours from the moment it is handled; the month's KPIs
    report their median from what was kept."""
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    now = to_local(clock.now())
    friday = (now + timedelta(days=(4 - now.weekday()) % 7 or 7)).replace(
        hour=16, minute=0, second=0, microsecond=0
    )
    monday = friday + timedelta(days=3)

    async def at_moment(moment: datetime):
        """It is ``moment``: the admin and the grid worker log in afresh."""
        clock.set(moment)
        admin = await api.login("demo-admin", DEMO_PASSWORD)
        return admin, await api.login(reporter.username, "grid-pass-1")

    admin, worker_now = await at_moment(friday)
    weekend = await report(worker_now, point)
    evening = await report(worker_now, point, description="夜间占道经营")
    for case in (weekend, evening):
        assert (await step(admin, case["id"], "accept")).status_code == 200
    admin, _ = await at_moment(friday.replace(minute=30))
    assert (await step(admin, weekend["id"], "dispatch", dispatched_to="环卫所")).status_code == 200
    admin, _ = await at_moment(friday.replace(hour=19))
    assert (await step(admin, evening["id"], "dispatch", dispatched_to="城管")).status_code == 200
    _, worker_now = await at_moment(monday.replace(hour=9, minute=45))
    photo = await uploaded(worker_now)
    r = await step(worker_now, evening["id"], "handle", photos=[photo])
    assert r.status_code == 200, r.text
    _, worker_now = await at_moment(monday.replace(hour=10, minute=15))
    r = await step(worker_now, weekend["id"], "handle", photos=[photo])
    assert r.status_code == 200, r.text

    async with grid_app.state.database.transaction(write=False) as session:
        kept = dict(
            (
                await session.execute(
                    select(Case.id, Case.handling_hours).where(
                        Case.id.in_([weekend["id"], evening["id"]])
                    )
                )
            ).all()
        )
    # (the seconds the test itself takes carry over)
    assert kept[weekend["id"]] == pytest.approx(2.25, abs=0.01)
    assert kept[evening["id"]] == pytest.approx(0.75, abs=0.01)
    admin, _ = await at_moment(monday.replace(hour=10, minute=20))
    r = await admin.get(
        "/api/v1/grid/cases/kpis",
        params={"area": cell["code"], "period": f"{friday:%Y-%m}", "group_by": "cell"},
    )
    assert r.status_code == 200, r.text
    [row] = r.json()["rows"]
    assert row["cases"] == 2
    assert row["median_handling_hours"] == round((kept[weekend["id"]] + kept[evening["id"]]) / 2, 2)


async def test_a_holiday_declared_after_a_case_was_handled_is_counted_in_its_handling_time(
    api, grid_app, new_community
):
    """A case dispatched on Friday 16:30 and handled on Tuesday 10:15 took 1 + 8.5 + 1.25
    working hours; the street office then declares that Monday a holiday (a typhoon day)
    and the KPIs say 2.25, as the calendar now does; taken back, 10.75 again."""
    community = await new_community(STREET_A)
    cell = f"{community}001"
    async with grid_app.state.database.transaction() as session:
        session.add(
            Case(
                id=unique("kpi")[:36],
                category_code="01.01",
                description="台风天",
                cell_code=cell,
                community_code=community,
                source="grid_worker",
                priority="normal",
                status="handled",
                dispatched_at=at("2025-03-07T16:30"),
                handled_at=at("2025-03-11T10:15"),
                created_at=at("2025-03-07T15:00"),
                updated_at=at("2025-03-11T10:15"),
            )
        )

    async def median() -> float:
        [row] = await _kpis(api, cell, "2025-03", "cell")
        return row["median_handling_hours"]

    assert await median() == 10.75
    typhoon = [{"day": "2025-03-10", "name": "台风停工"}]
    try:
        assert (await api.admin.put("/api/v1/grid/holidays", json=typhoon)).status_code == 200
        assert await median() == 2.25
    finally:
        assert (await api.admin.put("/api/v1/grid/holidays", json=[])).status_code == 200
    assert await median() == 10.75


def test_an_upgraded_deployment_has_its_handled_cases_measured(tmp_path):
    """The migration that keeps handling time fills it in for the cases already handled,
    on the deployment's calendar (its holidays included); a downgrade takes it away."""
    settings, created = fresh_database(tmp_path)
    config = alembic_config("grid", MIGRATION_TREES["grid"], settings)

    async def sql(statement: str) -> list[tuple]:
        # An engine per call: each asyncio.run is a loop of its own (Alembic runs its own).
        database = Database(settings.database_url_for("grid"), schema="grid")
        try:
            async with database.engine.begin() as conn:
                result = await conn.execute(text(statement))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            await database.dispose()

    def moment(text: str | None) -> str:
        """A Beijing time as the time column keeps it: UTC (SQLite's text has no offset)."""
        if text is None:
            return "NULL"
        utc = at(text).astimezone(UTC)
        return f"'{utc:%Y-%m-%d %H:%M:%S.%f}{'+00' if settings.is_postgres else ''}'"

    def case(cid: str, dispatched: str | None, handled: str | None) -> str:
        made = moment("2025-03-06T10:00")
        return (
            "INSERT INTO cases (id, category_code, description, source, photos, priority,"
            " status, rework_count, dispatched_at, handled_at, created_at, updated_at)"
            f" VALUES ('{cid}', '01.01', '垃圾', 'grid_worker', '[]', 'normal', 'handled', 0,"
            f" {moment(dispatched)}, {moment(handled)}, {made}, {made})"
        )

    try:
        command.upgrade(config, "a4c8e2f61b35")  # the last revision without it
        for statement in (
            # a holiday on the Monday: Friday 16:30 to Tuesday 10:15 is 1 h + 1.25 h
            "INSERT INTO holidays (day, name, working) VALUES ('2025-03-10', '假日', false)",
            case("weekend", "2025-03-07T16:30", "2025-03-11T10:15"),
            case("evening", "2025-03-07T19:00", "2025-03-07T21:00"),  # none of it worked
            case("undispatched", None, "2025-03-07T10:00"),
            case("open", "2025-03-07T10:00", None),
        ):
            asyncio.run(sql(statement))
        command.upgrade(config, "head")
        rows = asyncio.run(sql("SELECT id, handling_hours FROM cases ORDER BY id"))
        assert rows == [("evening", 0.0), ("open", None), ("undispatched", None), ("weekend", 2.25)]
        command.downgrade(config, "a4c8e2f61b35")
        with pytest.raises(DBAPIError):
            asyncio.run(sql("SELECT handling_hours FROM cases"))
    finally:
        if created:
            drop_database(created)
