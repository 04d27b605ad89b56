"""Incident cases: reported from a phone, walked through the workflow against working-time
deadlines, replayed safely from offline."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.common.clock import clock, to_local
from services.common.settings import DEMO_PASSWORD
from services.grid.calendar import WorkCalendar
from tests.factories import report, setup_cell, step, uploaded
from tests.support import assert_problem, unique


async def test_a_case_walks_the_whole_workflow(api, new_community, spot, worker):
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    case = await report(reporter, point)
    assert case["cell_code"] == cell["code"] and case["status"] == "reported"
    assert case["allowed_actions"] == ["accept", "reject"] and case["deadline_at"]

    r = await step(api.admin, case["id"], "dispatch", dispatched_to="环卫所")
    body = assert_problem(r, 409, "case.illegal_transition")
    assert body["allowed"] == ["accept", "reject"]
    # A grid worker reads the sentence as it is: states and actions in Chinese.
    assert "已上报" in body["detail"] and "派遣" in body["detail"], body["detail"]
    assert "reported" not in body["detail"] and "dispatch" not in body["detail"]
    assert "现在可以:立案、不予立案" in body["detail"] and "allowed" not in body["detail"]

    assert (await step(api.admin, case["id"], "accept", note="立案")).json()["status"] == "accepted"
    r = await step(api.admin, case["id"], "dispatch", dispatched_to="环卫所")
    assert r.json()["status"] == "dispatched" and r.json()["step"] == "handle"
    assert_problem(await step(reporter, case["id"], "handle"), 422)  # the after-photo is required
    after = await uploaded(reporter)
    r = await step(reporter, case["id"], "handle", photos=[after], note="已清理")
    assert r.json()["status"] == "handled"
    assert_problem(
        await step(reporter, case["id"], "verify", passed=True), 403, "case.verifier_is_handler"
    )
    r = await step(api.street, case["id"], "verify", passed=False, note="未清理干净")
    assert r.json()["status"] == "dispatched" and r.json()["rework_count"] == 1
    await step(reporter, case["id"], "handle", photos=[after])
    assert (await step(api.street, case["id"], "verify", passed=True)).json()[
        "status"
    ] == "verified"
    closed = await step(api.admin, case["id"], "close")
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"]
    rated = await step(reporter, case["id"], "evaluate", rating=5)
    assert rated.json()["rating"] == 5
    history = rated.json()["history"]
    assert [h["action"] for h in history] == [
        "report",
        "accept",
        "dispatch",
        "handle",
        "return",
        "handle",
        "verify",
        "close",
        "evaluate",
    ]
    assert all(h["actor_id"] and h["at"] for h in history)


async def test_an_extension_needs_another_persons_approval(api, new_community, spot, worker):
    _, reporter, point = await setup_cell(api, new_community, spot, worker)
    case = await report(reporter, point)
    await step(api.admin, case["id"], "accept")
    dispatched = (await step(api.admin, case["id"], "dispatch", dispatched_to="市政")).json()
    r = await step(reporter, case["id"], "request_extension", hours=8, note="需要配件")
    assert r.json()["extension_pending"] is True
    assert "approve_extension" in r.json()["allowed_actions"]
    assert_problem(await step(reporter, case["id"], "approve_extension"), 403)
    approved = (await step(api.street, case["id"], "approve_extension")).json()
    assert approved["extension_pending"] is False
    assert approved["deadline_at"] > dispatched["deadline_at"]


async def test_a_deadline_over_a_weekend_counts_working_time(api, new_community, spot, worker):
    now = to_local(clock.now())
    friday = (now + timedelta(days=(4 - now.weekday()) % 7 or 7)).replace(
        hour=16, minute=0, second=0, microsecond=0
    )
    _, reporter, point = await setup_cell(api, new_community, spot, worker)
    clock.set(friday)  # it is Friday 16:00: the worker logs in afresh
    reporter = await api.login(reporter.username, "grid-pass-1")
    case = await report(reporter, point)  # 01.01: accept within 2 working hours
    deadline = datetime.fromisoformat(case["deadline_at"])
    # 1.5 h on Friday until 17:30, then 0.5 h on Monday from 09:00.
    monday = friday + timedelta(days=3)
    # (the seconds the test itself takes carry over)
    assert abs((deadline - monday.replace(hour=9, minute=30)).total_seconds()) < 60


def test_working_hours_skip_holidays_and_count_make_up_days():
    zone = ZoneInfo("Asia/Shanghai")
    thursday = datetime(2026, 10, 1, 9, 0, tzinfo=zone).date()
    cal = WorkCalendar(
        holidays=frozenset({thursday}), workdays=frozenset({datetime(2026, 10, 10).date()})
    )
    start = datetime(2026, 9, 30, 17, 0, tzinfo=zone)  # Wednesday
    assert cal.add_working_hours(start, 1) == datetime(2026, 10, 2, 9, 30, tzinfo=zone)
    saturday_makeup = datetime(2026, 10, 9, 17, 0, tzinfo=zone)  # Friday 17:00
    assert cal.add_working_hours(saturday_makeup, 1) == datetime(2026, 10, 10, 9, 30, tzinfo=zone)
    assert cal.working_hours_between(start, datetime(2026, 10, 2, 10, 0, tzinfo=zone)) == 1.5
    assert cal.add_working_days(start, 1) == datetime(2026, 10, 2, 17, 30, tzinfo=zone)


async def test_a_nearby_open_case_of_the_same_kind_is_pointed_out(api, new_community, spot, worker):
    _, reporter, point = await setup_cell(api, new_community, spot, worker)
    first = await report(reporter, point)
    second = await report(reporter, (point[0] + 0.0002, point[1]))  # about 22 m north
    assert [d["id"] for d in second["possible_duplicates"]] == [first["id"]]
    assert 15 < second["possible_duplicates"][0]["distance_m"] < 30
    other_kind = await report(reporter, point, category_code="05.03")
    assert other_kind["possible_duplicates"] == []


async def test_a_replayed_offline_report_creates_one_case(api, new_community, spot, worker):
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    client_id = "0192f0c4-1111-7aaa-8bbb-" + unique("")[-12:].rjust(12, "0")
    body = {
        "id": client_id,
        "category_code": "03.01",
        "description": "井盖缺失",
        "lat": point[0],
        "lng": point[1],
    }
    key = {"Idempotency-Key": "offline-" + client_id}
    a = await reporter.post("/api/v1/grid/cases", json=body, headers=key)
    b = await reporter.post("/api/v1/grid/cases", json=body, headers=key)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    assert a.json()["id"] == client_id and a.json()["priority"] == "urgent"
    page = (
        await api.admin.get("/api/v1/grid/cases", params={"cell": cell["code"], "limit": 100})
    ).json()
    assert [c["id"] for c in page["items"]].count(client_id) == 1
    # the same id under another key is a conflict, not a second case
    assert_problem(
        await reporter.post(
            "/api/v1/grid/cases", json=body, headers={"Idempotency-Key": "k2" + client_id}
        ),
        409,
    )


async def test_overdue_cases_are_listed(api, new_community, spot, worker):
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    case = await report(reporter, point)
    clock.advance(timedelta(days=5))
    admin = await api.login("demo-admin", DEMO_PASSWORD)
    page = (
        await admin.get("/api/v1/grid/cases", params={"overdue": "true", "cell": cell["code"]})
    ).json()
    assert case["id"] in [c["id"] for c in page["items"]]
    assert all(c["overdue"] for c in page["items"])


async def test_a_report_outside_every_cell_or_of_no_category_is_refused(
    api, new_community, spot, worker
):
    _, reporter, point = await setup_cell(api, new_community, spot, worker)
    r = await reporter.post(
        "/api/v1/grid/cases",
        json={
            "category_code": "01.01",
            "description": "x",
            "lat": point[0] - 0.05,
            "lng": point[1],
        },
    )
    assert_problem(r, 422, "case.outside_grid")
    r = await reporter.post(
        "/api/v1/grid/cases",
        json={"category_code": "99.99", "description": "x", "lat": point[0], "lng": point[1]},
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "category_code"


async def test_a_resident_reports_and_sees_only_their_own(api, new_community, spot, worker):
    _, reporter, point = await setup_cell(api, new_community, spot, worker)
    staff_case = await report(reporter, point)
    resident = await api.resident()
    mine = await report(resident, point, category_code="06.01", description="独居老人求助")
    assert mine["cell_code"] and mine["source"] == "resident"
    listed = (await resident.get("/api/v1/grid/cases")).json()
    assert [c["id"] for c in listed["items"]] == [mine["id"]]
    assert_problem(await resident.get(f"/api/v1/grid/cases/{staff_case['id']}"), 404)


async def test_kpis_per_community(api, new_community, spot, worker):
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    case = await report(reporter, point)
    for action, extra in (("accept", {}), ("dispatch", {"dispatched_to": "环卫所"})):
        await step(api.admin, case["id"], action, **extra)
    await step(reporter, case["id"], "handle", photos=[await uploaded(reporter)])
    await step(api.street, case["id"], "verify", passed=True)
    await step(api.admin, case["id"], "close")
    await report(reporter, (point[0] + 0.001, point[1] + 0.001), category_code="05.03")
    year = clock.today().year
    r = await api.admin.get(
        "/api/v1/grid/cases/kpis",
        params={"area": cell["community_code"], "period": str(year), "group_by": "cell"},
    )
    row = r.json()["rows"][0]
    assert row["code"] == cell["code"] and row["cases"] == 2 and row["closed"] == 1
    assert row["on_time_close_rate"] == 1.0 and row["rework_rate"] == 0.0
    assert row["median_handling_hours"] is not None and row["overdue"] == 0
    assert_problem(
        await api.admin.get("/api/v1/grid/cases/kpis", params={"area": "41", "period": "2026Q5"}),
        422,
    )


async def test_open311_clients_report_and_read(api, new_community, spot, worker, settings, app):
    """An outside civic app's key is bound to an area: it reports there and reads that
    area's requests with only what GeoReport makes public."""
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    services = (await api.anon.get("/open311/v2/services.json")).json()
    assert {"service_code": "01.01", "service_name": "暴露垃圾"}.items() <= services[0].items()
    grid = next(a for a in app.state.embedded_apps if a.state.component == "grid")
    keys = grid.state.settings.open311_keys
    keys["civic-app-key"] = cell["community_code"]
    keys["other-area-key"] = "410105002"
    try:
        r = await api.anon.post(
            "/open311/v2/requests.json",
            data={
                "api_key": "civic-app-key",
                "service_code": "02.01",
                "lat": point[0],
                "long": point[1],
                "description": "占道经营,联系人 13800138000",
            },
        )
        assert r.status_code == 200, r.text
        request_id = r.json()[0]["service_request_id"]
        got = (
            await api.anon.get(
                f"/open311/v2/requests/{request_id}.json", params={"api_key": "civic-app-key"}
            )
        ).json()
        assert got[0]["status"] == "open" and got[0]["service_code"] == "02.01"
        assert got[0]["description"] is None and got[0]["address"] is None
        assert abs(got[0]["lat"] - point[0]) < 0.001 and got[0]["lat"] == round(got[0]["lat"], 3)
        # a grid worker's case in the same area is listed, without what they wrote
        staff_case = await report(reporter, point)
        listed = (
            await api.anon.get("/open311/v2/requests.json", params={"api_key": "civic-app-key"})
        ).json()
        assert len(listed) >= 2 and all(item["description"] is None for item in listed)
        # a key of another area sees none of it, and cannot report here
        other = await api.anon.get(
            f"/open311/v2/requests/{request_id}.json", params={"api_key": "other-area-key"}
        )
        assert_problem(other, 404)
        # (other stories may have cases in that street; none of this area's is among them)
        elsewhere = (
            await api.anon.get("/open311/v2/requests.json", params={"api_key": "other-area-key"})
        ).json()
        seen = {item["service_request_id"] for item in elsewhere}
        assert not seen & {request_id, staff_case["id"]}
        r = await api.anon.post(
            "/open311/v2/requests.json",
            data={
                "api_key": "other-area-key",
                "service_code": "02.01",
                "lat": point[0],
                "long": point[1],
                "description": "x",
            },
        )
        assert_problem(r, 422)
        assert_problem(
            await api.anon.post(
                "/open311/v2/requests.json",
                data={"service_code": "02.01", "lat": 1, "long": 1, "description": "x"},
            ),
            401,
        )
    finally:
        keys.pop("civic-app-key")
        keys.pop("other-area-key")


async def test_a_grid_worker_is_offered_only_the_steps_they_may_take(
    api, new_community, spot, worker
):
    """The case's steps (allowed_actions) and the caller's (my_actions) differ: a grid
    worker does not accept a case, and is told who does."""
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    case = await report(reporter, point)
    assert case["allowed_actions"] == ["accept", "reject"] and case["my_actions"] == []
    shown = (await api.admin.get(f"/api/v1/grid/cases/{case['id']}")).json()
    assert shown["my_actions"] == ["accept", "reject"]
    r = await step(reporter, case["id"], "accept")
    body = assert_problem(r, 403, "case.not_your_step")
    assert "立案" in body["detail"] and "社区或街道" in body["detail"], body["detail"]
    work = (await reporter.get("/api/v1/grid/my-work")).json()
    assert work["reported"][0]["my_actions"] == []
    assert (await step(api.admin, case["id"], "accept")).is_success
    r = await step(api.admin, case["id"], "dispatch", dispatched_to="环卫所")
    mine = (await reporter.get(f"/api/v1/grid/cases/{case['id']}")).json()["my_actions"]
    assert mine == ["handle", "request_extension"]
