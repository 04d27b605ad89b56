"""What changed in the grid: a cell's fields and members, each step of a case, by name
and in Beijing time; the history of a cell or case outside the caller's scope is a 404."""

from __future__ import annotations

from tests.factories import (
    STREET_B,
    make_cell,
    report,
    setup_cell,
    staff_account,
    step,
    unit_with_contact,
    uploaded,
)
from tests.support import assert_problem, changes_of


async def test_a_cell_and_its_case_show_who_changed_them_by_name(api, new_community, spot):
    community = await new_community()
    admin = await staff_account(api, "community_admin", community, "李社区")
    lat, lng = spot
    cell = await make_cell(api, community, lat, lng, size=0.004)
    code = cell["code"]
    r = await admin.patch(f"/api/v1/grid/cells/{code}", json={"name": "东片网格"})
    assert r.status_code == 200, r.text
    gridder = await staff_account(api, "grid_worker", community, "王网格")
    r = await admin.put(
        f"/api/v1/grid/cells/{code}/members",
        json={"workers": [gridder.user_id], "leader": gridder.user_id},
    )
    assert r.status_code == 200, r.text

    r = await admin.get(f"/api/v1/grid/cells/{code}/history")
    assert r.status_code == 200, r.text
    members, renamed, created = r.json()["items"]
    assert members["action"] == "members_set" and members["actor_name"] == "李社区"
    assert members["action_name"] == "设置成员"
    changes = {c["field"]: c for c in changes_of(members)}
    assert changes["workers"]["new"] == [f"王网格 ({gridder.user_id})"]
    assert changes["leader"] == {
        "field": "leader",
        "old": None,
        "new": f"王网格 ({gridder.user_id})",
    }
    assert changes_of(renamed) == [{"field": "name", "old": "第一网格", "new": "东片网格"}]
    assert renamed["changes"][0]["field_name"] == "名称"
    assert renamed["at"].endswith("+08:00")
    assert created["action"] == "created"

    # The grid worker (logged in again: their scope is now the cell) reports; the
    # community dispatches.
    gridder = await api.login(gridder.username, "staff-pass-1")
    case = await report(gridder, (lat + 0.002, lng + 0.002))
    r = await step(admin, case["id"], "accept")
    assert r.status_code == 200, r.text
    r = await step(admin, case["id"], "dispatch", dispatched_to="环卫所")
    assert r.status_code == 200, r.text

    shown = (await admin.get(f"/api/v1/grid/cases/{case['id']}")).json()
    assert [(e["action"], e["actor_name"]) for e in shown["history"]] == [
        ("report", "王网格"),
        ("accept", "李社区"),
        ("dispatch", "李社区"),
    ]
    r = await admin.get(f"/api/v1/grid/cases/{case['id']}/history")
    assert r.status_code == 200, r.text
    dispatched, accepted, reported = r.json()["items"]
    assert (dispatched["action"], dispatched["actor_name"]) == ("dispatch", "李社区")
    changes = {c["field"]: (c["old"], c["new"]) for c in dispatched["changes"]}
    assert changes["status"] == ("accepted", "dispatched")
    assert changes["dispatched_to"] == (None, "环卫所")
    # As the community reads it: 派遣, 状态 已立案 → 已派遣.
    status = next(c for c in dispatched["changes"] if c["field"] == "status")
    assert dispatched["action_name"] == "派遣"
    assert (status["field_name"], status["old_name"], status["new_name"]) == (
        "状态",
        "已立案",
        "已派遣",
    )
    assert reported["actor_name"] == "王网格" and reported["action_name"] == "上报"

    # Nobody outside the community reads either.
    other = await staff_account(api, "street_admin", STREET_B[:9], "花园路街道办")
    assert_problem(await other.get(f"/api/v1/grid/cells/{code}/history"), 404)
    assert_problem(await other.get(f"/api/v1/grid/cases/{case['id']}/history"), 404)


async def test_a_case_dispatched_to_a_unit_and_to_a_worker_reads_by_name(
    api, new_community, spot, worker
):
    """Who a case went to is read by name, in the case and its history; a unit that does
    not exist is not a place to send a case."""
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    community = cell["community_code"]
    admin = await staff_account(api, "community_admin", community, "李社区")
    unit, contact = await unit_with_contact(api, community)
    case = await report(grid, point)
    assert (await step(admin, case["id"], "accept")).is_success
    r = await step(admin, case["id"], "dispatch", unit_id="no-such-unit")
    body = assert_problem(r, 422, "validation.not_found")
    assert body["errors"][0]["field"] == "unit_id"

    r = await step(admin, case["id"], "dispatch", unit_id=unit["id"])
    assert r.status_code == 200, r.text
    assert r.json()["dispatched_to"] == unit["name"]
    told = (await contact.get("/api/v1/notifications")).json()["items"]
    assert [n["kind"] for n in told if n["subject_id"] == case["id"]] == ["case_dispatched"]
    r = await admin.get(f"/api/v1/grid/cases/{case['id']}/history")
    [dispatched] = [e for e in r.json()["items"] if e["action"] == "dispatch"]
    changes = {c["field"]: c["new"] for c in dispatched["changes"]}
    assert changes["dispatched_to"] == unit["name"]
    assert changes["unit"] == f"{unit['name']} ({unit['id']})"
    assert "dispatched_unit_id" not in changes

    me = (await grid.get("/api/v1/me")).json()
    second = await report(grid, point)
    assert (await step(admin, second["id"], "accept")).is_success
    r = await step(admin, second["id"], "dispatch", dispatched_to="环卫所", assignee_id=me["id"])
    assert r.status_code == 200, r.text
    r = await admin.get(f"/api/v1/grid/cases/{second['id']}/history")
    [dispatched] = [e for e in r.json()["items"] if e["action"] == "dispatch"]
    changes = {c["field"]: c["new"] for c in dispatched["changes"]}
    assert changes["assignee"].endswith(f"({me['id']})") and changes["assignee"] != f"({me['id']})"
    assert not any(me["id"] == value for value in changes.values())  # no bare account id


async def test_the_unit_a_case_is_sent_to_sees_its_photo_and_another_unit_does_not(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    community = cell["community_code"]
    unit, contact = await unit_with_contact(api, community)
    _, bystander = await unit_with_contact(api, community)
    photo = await uploaded(grid)
    case = await report(grid, point, photos=[photo])
    assert (await step(api.admin, case["id"], "accept")).is_success
    assert_problem(await contact.get(f"/api/v1/files/{photo}"), 404)  # not theirs yet
    assert (await step(api.admin, case["id"], "dispatch", unit_id=unit["id"])).is_success
    r = await contact.get(f"/api/v1/files/{photo}")
    assert r.status_code == 200 and r.content, r.text
    assert_problem(await bystander.get(f"/api/v1/files/{photo}"), 404)


async def test_a_cases_history_names_its_category_and_cell(api, new_community, spot, worker):
    """The community reads 路灯损坏 (03.02) and 第一网格 (code), not the bare codes."""
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    case = await report(grid, point, category_code="03.02", description="路灯不亮")
    r = await api.admin.get(f"/api/v1/grid/cases/{case['id']}/history")
    assert r.status_code == 200, r.text
    [reported] = r.json()["items"]
    changes = {c["field"]: c for c in reported["changes"]}
    assert changes["category"]["new"] == "路灯损坏 (03.02)"
    assert changes["category"]["field_name"] == "事项类别"
    assert changes["cell"]["new"] == f"第一网格 ({cell['code']})"
    assert changes["cell"]["field_name"] == "所属网格"
    assert (await step(api.admin, case["id"], "accept")).is_success
    r = await api.admin.get(f"/api/v1/grid/cases/{case['id']}/history")
    accepted = r.json()["items"][0]
    assert {c["field"] for c in accepted["changes"]} & {"category", "cell"} == set()
