"""Case KPIs over a month of cases as a street office reads them: the month runs from
midnight to midnight Beijing time, an open case past its deadline is overdue but a case
closed late is not, and a period without cases has no rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.grid.models import Case
from tests.factories import STREET_A
from tests.support import unique

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
