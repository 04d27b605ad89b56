"""Times as a phone in Beijing sends them: an instant sent with +08:00 is the instant read
back, on SQLite as on PostgreSQL, and a deadline passes when the clock says it does."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.common.clock import clock, to_local
from services.common.settings import DEMO_PASSWORD
from tests.factories import populate, report, setup_cell


async def test_a_visit_logged_at_half_past_ten_beijing_time_reads_back_at_half_past_ten(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    households = await _one_household(api, cell, point)
    visited = to_local(clock.now()).replace(hour=10, minute=30, second=0, microsecond=0)
    if visited > clock.now():
        visited -= timedelta(days=1)
    r = await grid.post(
        "/api/v1/grid/visits",
        json={"household_id": households, "visited_at": visited.isoformat(), "note": "正常"},
    )
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["visited_at"]) == visited
    listed = (await grid.get("/api/v1/grid/visits", params={"cell": cell["code"]})).json()
    [row] = [v for v in listed["items"] if v["id"] == r.json()["id"]]
    assert row["visited_at"] == visited.isoformat()  # 10:30+08:00, not 18:30+08:00


async def test_a_time_without_an_offset_is_beijing_time(api, new_community, spot, worker):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    household = await _one_household(api, cell, point)
    visited = to_local(clock.now() - timedelta(hours=1)).replace(microsecond=0)
    r = await grid.post(
        "/api/v1/grid/visits",
        json={"household_id": household, "visited_at": visited.replace(tzinfo=None).isoformat()},
    )
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["visited_at"]) == visited


async def test_an_urgent_case_two_minutes_past_its_deadline_is_overdue(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    case = await report(grid, point, priority="urgent")
    deadline = datetime.fromisoformat(case["deadline_at"])
    assert deadline.utcoffset() == timedelta(hours=8)
    stored = (await grid.get(f"/api/v1/grid/cases/{case['id']}")).json()
    assert datetime.fromisoformat(stored["deadline_at"]) == deadline  # the stored value

    overdue = await grid.get("/api/v1/grid/cases", params={"overdue": "true"})
    assert case["id"] not in [c["id"] for c in overdue.json()["items"]]

    clock.set(deadline + timedelta(minutes=2))
    grid = await api.login(grid.username, "grid-pass-1")
    overdue = await grid.get("/api/v1/grid/cases", params={"overdue": "true", "limit": 100})
    assert case["id"] in [c["id"] for c in overdue.json()["items"]]
    assert (await grid.get(f"/api/v1/grid/cases/{case['id']}")).json()["overdue"] is True
    admin = await api.login("demo-admin", DEMO_PASSWORD)
    kpis = await admin.get(
        "/api/v1/grid/cases/kpis",
        params={"area": cell["code"], "period": str(clock.today().year), "group_by": "cell"},
    )
    [row] = [r for r in kpis.json()["rows"] if r["code"] == cell["code"]]
    assert row["overdue"] == 1


async def _one_household(api, cell, point) -> str:
    _, households, _ = await populate(api, cell, point)
    return households[0]
