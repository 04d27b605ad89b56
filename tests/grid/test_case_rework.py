"""A case sent back for rework, and an extension decided: whoever handles it hears of it in
their inbox, with the verifier's note and the deadline in Beijing time, and an extension
granted is not lost to the rework. The cell's grid workers are asked to verify what they
may verify; their work list's due cases are the ones they can act on."""

from __future__ import annotations

from datetime import datetime

from services.common.clock import to_local
from tests.factories import report, setup_cell, staff_account, step, unit_with_contact, uploaded
from tests.support import assert_problem


def beijing(value: str) -> str:
    """An instant as a message writes it, in Beijing time (12月08日 16:00)."""
    return to_local(datetime.fromisoformat(value)).strftime("%m月%d日 %H:%M")


async def about(caller, case_id: str, kind: str | None = None) -> list[dict]:
    r = await caller.get("/api/v1/notifications")
    assert r.status_code == 200, r.text
    return [
        n
        for n in r.json()["items"]
        if n["subject_id"] == case_id and (kind is None or n["kind"] == kind)
    ]


async def test_a_unit_whose_repair_fails_the_check_is_told_to_do_it_again(
    api, new_community, spot, worker
):
    """The unit fixed the street lamp; the street's verifier finds it still dark and sends
    it back: the unit reads a new, unread 返工 message naming the case and the note."""
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    community = cell["community_code"]
    manager = await staff_account(api, "community_admin", community, "张主任")
    unit, contact = await unit_with_contact(api, community)
    case = await report(grid, point, category_code="03.02", description="3号楼前路灯不亮")
    assert (await step(manager, case["id"], "accept")).is_success
    assert (await step(manager, case["id"], "dispatch", unit_id=unit["id"])).is_success
    r = await step(contact, case["id"], "handle", photos=[await uploaded(contact)], note="已换灯泡")
    assert r.is_success, r.text
    [sent] = await about(contact, case["id"], "case_dispatched")
    assert sent["settled_at"]  # handled: the dispatch waits no more

    r = await step(api.street, case["id"], "verify", passed=False, note="仍然不亮")
    assert r.status_code == 200, r.text
    back = r.json()
    assert back["status"] == "dispatched" and back["deadline_at"].endswith("+08:00")
    [note] = await about(contact, case["id"], "case_returned")
    assert note["read_at"] is None and note["settled_at"] is None
    assert note["kind_name"] == "事件返工" and "返工" in note["title"]
    assert "路灯损坏" in note["body"] and "3号楼前路灯不亮" in note["body"]
    assert "仍然不亮" in note["body"] and "重新处置" in note["body"]
    assert beijing(back["deadline_at"]) in note["body"], note["body"]
    assert (await contact.get("/api/v1/notifications/unread-count")).json()["unread"] >= 1

    # Handled again, the rework waits no more; checked and then returned once more (the
    # ``return`` step, after a passed check), the unit is told again.
    r = await step(contact, case["id"], "handle", photos=[await uploaded(contact)])
    assert r.is_success, r.text
    [note] = await about(contact, case["id"], "case_returned")
    assert note["settled_at"]
    assert (await step(api.street, case["id"], "verify", passed=True)).is_success
    r = await step(manager, case["id"], "return", note="灯罩未装回")
    assert r.status_code == 200 and r.json()["rework_count"] == 2, r.text
    fresh, _ = await about(contact, case["id"], "case_returned")
    assert fresh["settled_at"] is None and "灯罩未装回" in fresh["body"]


async def test_an_assigned_worker_is_told_of_the_rework(api, new_community, spot, worker):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    manager = await staff_account(api, "community_admin", cell["community_code"])
    me = (await grid.get("/api/v1/me")).json()
    case = await report(api.admin, point)
    assert (await step(manager, case["id"], "accept")).is_success
    assert (await step(manager, case["id"], "dispatch", assignee_id=me["id"])).is_success
    r = await step(grid, case["id"], "handle", photos=[await uploaded(grid)])
    assert r.is_success, r.text
    assert (await step(manager, case["id"], "verify", passed=False, note="仍有垃圾")).is_success
    [note] = await about(grid, case["id"], "case_returned")
    assert note["read_at"] is None and "仍有垃圾" in note["body"]
    assert [n["kind"] for n in await about(manager, case["id"], "case_returned")] == []


async def test_the_requester_hears_the_extension_decided_and_a_rework_keeps_it(
    api, new_community, spot, worker
):
    """The unit asks for 16 more hours; the community grants them: the unit reads 延期已批准
    and the new deadline in Beijing time. Sent back later, the case keeps that deadline
    (a rework's fresh deadline would be earlier). A refusal is told too."""
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    community = cell["community_code"]
    manager = await staff_account(api, "community_admin", community)
    unit, contact = await unit_with_contact(api, community)
    case = await report(grid, point)  # 01.01: 8 working hours to handle
    assert (await step(manager, case["id"], "accept")).is_success
    dispatched = (await step(manager, case["id"], "dispatch", unit_id=unit["id"])).json()
    r = await step(contact, case["id"], "request_extension", hours=16, note="需采购配件")
    assert r.is_success, r.text
    [ask] = await about(manager, case["id"], "extension_requested")
    assert "申请延期 16 小时" in ask["body"], ask["body"]
    approved = (await step(manager, case["id"], "approve_extension")).json()
    assert approved["deadline_at"] > dispatched["deadline_at"]
    [told] = await about(contact, case["id"], "extension_approved")
    assert told["title"] == "延期已批准" and told["read_at"] is None
    assert "16 小时" in told["body"] and beijing(approved["deadline_at"]) in told["body"]

    r = await step(contact, case["id"], "handle", photos=[await uploaded(contact)])
    assert r.is_success, r.text
    back = (await step(api.street, case["id"], "verify", passed=False, note="未清理干净")).json()
    assert back["status"] == "dispatched"
    assert back["deadline_at"] == approved["deadline_at"]  # the granted time is kept
    [returned] = await about(contact, case["id"], "case_returned")
    assert beijing(approved["deadline_at"]) in returned["body"]

    # A second request, refused: the unit is told, and the deadline stands.
    r = await step(contact, case["id"], "request_extension", hours=8.5, note="再等等")
    assert r.is_success, r.text
    ask = [n for n in await about(manager, case["id"], "extension_requested") if not n["read_at"]]
    assert "申请延期 8.5 小时" in ask[0]["body"], ask[0]["body"]
    refused = (await step(manager, case["id"], "reject_extension", note="工期已足")).json()
    assert refused["deadline_at"] == approved["deadline_at"]
    [told] = await about(contact, case["id"], "extension_rejected")
    assert told["title"] == "延期未获批准" and "工期已足" in told["body"]
    assert beijing(approved["deadline_at"]) in told["body"]


async def test_the_cells_grid_workers_are_asked_to_verify_what_they_may_verify(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    community = cell["community_code"]
    other_id, other_name = await worker(community)
    _, outsider_name = await worker(community)  # of the community, not of the cell
    me = (await grid.get("/api/v1/me")).json()["id"]
    r = await api.admin.put(
        f"/api/v1/grid/cells/{cell['code']}/members", json={"workers": [me, other_id]}
    )
    assert r.status_code == 200, r.text
    grid = await api.login(grid.username, "grid-pass-1")
    other = await api.login(other_name, "grid-pass-1")
    outsider = await api.login(outsider_name, "grid-pass-1")
    unit, contact = await unit_with_contact(api, community)
    case = await report(grid, point)
    assert (await step(api.admin, case["id"], "accept")).is_success
    assert (await step(api.admin, case["id"], "dispatch", unit_id=unit["id"])).is_success
    r = await step(contact, case["id"], "handle", photos=[await uploaded(contact)])
    assert r.is_success, r.text
    for member in (grid, other):
        [ask] = await about(member, case["id"], "case_to_verify")
        assert ask["settled_at"] is None and ask["kind_name"] == "事件待核查"
    assert await about(outsider, case["id"], "case_to_verify") == []
    assert (await step(other, case["id"], "verify", passed=True)).is_success
    [ask] = await about(grid, case["id"], "case_to_verify")
    assert ask["settled_at"]

    # The worker who handled a case does not verify it: the other one is asked.
    second = await report(grid, point, description="楼道堆放杂物")
    assert (await step(api.admin, second["id"], "accept")).is_success
    assert (await step(api.admin, second["id"], "dispatch", assignee_id=me)).is_success
    r = await step(grid, second["id"], "handle", photos=[await uploaded(grid)])
    assert r.is_success, r.text
    assert await about(grid, second["id"], "case_to_verify") == []
    assert len(await about(other, second["id"], "case_to_verify")) == 1


async def test_due_soon_lists_only_the_cases_the_worker_can_act_on(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    me = (await grid.get("/api/v1/me")).json()
    waiting = await report(grid, point)  # 已上报: the community accepts it, not the worker
    mine = await report(grid, point, description="绿化带内垃圾")
    assert (await step(api.admin, mine["id"], "accept")).is_success
    assert (await step(api.admin, mine["id"], "dispatch", assignee_id=me["id"])).is_success
    # Within the longest window asked for: a case dispatched on a Saturday morning is due
    # in working hours, days later, and the story is about which cases, not when.
    work = (await grid.get("/api/v1/grid/my-work", params={"due_within_h": 24 * 14})).json()
    due = {c["id"]: c for c in work["due_soon"]}
    assert waiting["id"] not in due
    assert mine["id"] in due and due[mine["id"]]["my_actions"]
    assert all(c["my_actions"] for c in work["due_soon"])


async def test_handling_again_after_rework_with_no_photo_asks_for_one(
    api, new_community, spot, worker
):
    """Sent back for rework, the grid worker taps 处置 again with the photo list emptied: the
    answer says a handling needs at least one photo, not that a field sent is missing; a
    case's 409 names the steps it allows in Chinese beside their codes."""
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    case = await report(grid, point)
    assert (await step(api.admin, case["id"], "accept")).is_success
    assert (await step(api.admin, case["id"], "dispatch", dispatched_to="环卫所")).is_success
    photo = await uploaded(grid)
    assert (await step(grid, case["id"], "handle", photos=[photo])).is_success
    assert (await step(api.street, case["id"], "verify", passed=False, note="未清理")).is_success

    for sent in ({"photos": []}, {}):
        r = await step(grid, case["id"], "handle", note="已重新清理", **sent)
        body = assert_problem(r, 422, "validation.photos_required")
        assert body["errors"] == [
            {"field": "photos", "code": "photos_required", "message": "处置须至少附一张照片。"}
        ]
    en = await grid.post(
        f"/api/v1/grid/cases/{case['id']}/transitions",
        json={"action": "handle", "photos": []},
        headers={"Accept-Language": "en"},
    )
    assert en.json()["errors"][0]["message"] == "Handling needs at least one photo."

    closed = await step(api.admin, case["id"], "close")
    body = assert_problem(closed, 409, "case.illegal_transition")
    assert body["allowed"] == ["handle", "request_extension"], body["allowed"]
    assert body["allowed_names"] == ["处置", "申请延期"]


async def test_a_resident_whose_report_is_refused_reads_why(api, new_community, spot, worker):
    """A resident reports rubbish already reported; the community refuses it as 重复上报 and
    the resident's message says so, as a rework message carries the verifier's note."""
    cell, _, point = await setup_cell(api, new_community, spot, worker)
    manager = await staff_account(api, "community_admin", cell["community_code"], "张主任")
    resident = await api.resident()
    case = await report(resident, point, description="小区门口垃圾堆积")
    r = await step(manager, case["id"], "reject", note="重复上报")
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text

    [told] = await about(resident, case["id"], "case_rejected")
    assert told["title"] == "您上报的事件不予立案"
    assert "小区门口垃圾堆积" in told["body"] and "重复上报" in told["body"]


async def test_a_refusal_without_a_note_says_only_what_was_refused(
    api, new_community, spot, worker
):
    cell, _, point = await setup_cell(api, new_community, spot, worker)
    manager = await staff_account(api, "community_admin", cell["community_code"])
    resident = await api.resident()
    case = await report(resident, point, description="楼道灯不亮")
    assert (await step(manager, case["id"], "reject")).is_success
    [told] = await about(resident, case["id"], "case_rejected")
    assert "楼道灯不亮" in told["body"] and "原因" not in told["body"]
