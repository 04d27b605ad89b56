"""A grid worker on a phone in Beijing: a case dispatched to them is in their work list and
their inbox, they are reminded before its deadline and once it passes, a visit can only be
logged for a time that has come, and their list shows the households still to visit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from services.common.clock import clock, to_local
from services.grid.service.reminders import remind_due
from tests.factories import populate, report, setup_cell, staff_account, step, uploaded
from tests.support import assert_problem


def grid_app(app):
    return next(sub for sub in app.state.embedded_apps if sub.state.component == "grid")


async def test_a_case_dispatched_to_a_worker_is_their_work_and_they_are_reminded(
    app, api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    me = (await grid.get("/api/v1/me")).json()
    case = await report(grid, point)
    assert (await step(api.admin, case["id"], "accept")).is_success

    stranger, _ = await worker(cell["community_code"])
    r = await step(api.admin, case["id"], "dispatch", assignee_id=stranger)
    body = assert_problem(r, 422, "validation.not_a_cell_member")
    assert body["errors"][0]["field"] == "assignee_id"

    r = await step(api.admin, case["id"], "dispatch", assignee_id=me["id"])
    assert r.status_code == 200, r.text
    assert r.json()["assignee_id"] == me["id"] and r.json()["step"] == "handle"
    deadline = r.json()["deadline_at"]

    work = (await grid.get("/api/v1/grid/my-work")).json()
    assert [c["id"] for c in work["assigned"]] == [case["id"]]
    assert [c["id"] for c in work["reported"]] == [case["id"]]  # they reported it too
    notes = (await grid.get("/api/v1/notifications")).json()["items"]
    dispatched = [n for n in notes if n["kind"] == "case_dispatched"]
    assert dispatched and dispatched[0]["subject_id"] == case["id"]
    assert "请于" in dispatched[0]["body"]

    # Fifty minutes before the deadline: a reminder, once, however often the sweep runs.
    clock.set(clock.now().fromisoformat(deadline) - timedelta(minutes=50))
    grid = await api.login(grid.username, "grid-pass-1")  # hours later: a new login
    # Two replicas sweeping at the same moment tell it once between them.
    told = await asyncio.gather(*(remind_due(grid_app(app).state) for _ in range(3)))
    assert sum(told) >= 1
    notes = (await grid.get("/api/v1/notifications")).json()["items"]
    assert [n["kind"] for n in notes if n["subject_id"] == case["id"]].count("case_due_soon") == 1
    # Past it: overdue, once.
    clock.advance(timedelta(hours=1))
    grid = await api.login(grid.username, "grid-pass-1")
    await remind_due(grid_app(app).state)
    await remind_due(grid_app(app).state)
    notes = (await grid.get("/api/v1/notifications")).json()["items"]
    overdue = [n for n in notes if n["subject_id"] == case["id"] and n["kind"] == "case_overdue"]
    assert len(overdue) == 1 and overdue[0]["title"] == "事件已超时"
    work = (await grid.get("/api/v1/grid/my-work")).json()
    assert work["due_soon"][0]["id"] == case["id"] and work["due_soon"][0]["overdue"] is True


async def test_a_visit_in_the_future_is_refused_and_the_list_counts_what_is_left(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    _, households, _ = await populate(api, cell, point)
    later = to_local(clock.now() + timedelta(hours=2)).isoformat()
    r = await grid.post(
        "/api/v1/grid/visits", json={"household_id": households[0], "visited_at": later}
    )
    body = assert_problem(r, 422, "validation.in_future")
    assert body["errors"][0]["field"] == "visited_at"

    work = (await grid.get("/api/v1/grid/my-work")).json()
    [todo] = work["visits"]
    assert todo["cell_code"] == cell["code"] and todo["households"] == 2
    assert todo["to_visit"] == 2
    now = to_local(clock.now()).isoformat()
    r = await grid.post(
        "/api/v1/grid/visits", json={"household_id": households[0], "visited_at": now}
    )
    assert r.status_code == 201, r.text
    [todo] = (await grid.get("/api/v1/grid/my-work")).json()["visits"]
    assert todo["visited"] == 1 and todo["to_visit"] == 1


async def test_each_step_of_a_case_tells_whoever_acts_next_and_the_reporter_hears_the_end(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    community = cell["community_code"]
    manager = await staff_account(api, "community_admin", community, "张主任")
    resident = await api.resident()
    case = await report(resident, point)

    async def waiting(caller) -> list[str]:
        notes = (await caller.get("/api/v1/notifications")).json()["items"]
        return [n["kind"] for n in notes if n["subject_id"] == case["id"] and not n["settled_at"]]

    assert await waiting(manager) == ["case_reported"]
    assert (await step(manager, case["id"], "accept")).is_success
    assert await waiting(manager) == []
    me = (await grid.get("/api/v1/me")).json()
    assert (await step(manager, case["id"], "dispatch", assignee_id=me["id"])).is_success
    r = await step(grid, case["id"], "handle", photos=[await uploaded(grid)])
    assert r.is_success, r.text
    assert await waiting(manager) == ["case_to_verify"]
    # The street checks it; the community, which did not, is asked to close it.
    assert (await step(api.street, case["id"], "verify", passed=True)).is_success
    assert await waiting(manager) == ["case_to_close"]
    assert (await step(manager, case["id"], "close")).is_success
    assert await waiting(manager) == []
    told = (await resident.get("/api/v1/notifications")).json()["items"]
    titles = [n["title"] for n in told if n["subject_id"] == case["id"]]
    assert titles == ["您上报的事件已办结", "您上报的事件已立案"], titles
