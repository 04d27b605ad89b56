"""A message that asks someone to act stops waiting once it is done: the agreement signed,
the record confirmed, the volunteer reviewed, the extension decided, the application moved
on. Whoever was told sees it settled, not still unread, whichever of them acted."""

from __future__ import annotations

from services.common.clock import clock
from tests.factories import (
    DISTRICT,
    YEAR,
    agreement_body,
    report,
    setup_cell,
    staff_account,
    step,
    unit_with_contact,
    uploaded,
)
from tests.support import make_id_number


async def about(caller, subject_id: str) -> list[dict]:
    r = await caller.get("/api/v1/notifications")
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["subject_id"] == subject_id]


async def unread(caller) -> int:
    return (await caller.get("/api/v1/notifications/unread-count")).json()["unread"]


async def test_an_agreement_signed_and_a_record_confirmed_leave_nothing_waiting(api, new_community):
    community = await new_community(name="和平里社区")
    worker = await staff_account(api, "community_admin", community)
    second = await staff_account(api, "community_admin", community)  # told, did not act
    unit, contact = await unit_with_contact(api, community)
    r = await worker.post(
        "/api/v1/assessment/agreements",
        json=agreement_body(unit["id"], community, title="2026年度共驻共建协议"),
    )
    agreement = r.json()
    sign = f"/api/v1/assessment/agreements/{agreement['id']}/sign"
    assert await unread(contact) == 1
    # The unit reads which agreement, not its own name as the other side.
    [ask] = await about(contact, agreement["id"])
    assert "《2026年度共驻共建协议》" in ask["body"] and unit["name"] not in ask["body"]
    assert (await contact.post(sign, json={"party": "unit"})).is_success
    [ask] = await about(contact, agreement["id"])
    assert ask["settled_at"] and ask["read_at"], ask
    assert await unread(contact) == 0
    # The community's turn: a new message for it, unread until one of its workers signs.
    [ask] = await about(second, agreement["id"])
    assert ask["settled_at"] is None and ask["read_at"] is None
    assert unit["name"] in ask["body"] and "《2026年度共驻共建协议》" in ask["body"]
    assert (await worker.post(sign, json={"party": "community"})).is_success
    [ask] = await about(second, agreement["id"])
    assert ask["settled_at"] and await unread(second) == 0

    r = await contact.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/records",
        json={
            "pledge_id": agreement["pledges"][0]["id"],
            "day": clock.today().isoformat(),
            "quantity": 1,
            "description": "便民服务",
        },
    )
    record = r.json()
    assert await unread(second) == 1
    r = await worker.post(f"/api/v1/assessment/records/{record['id']}/confirm", json={})
    assert r.is_success, r.text
    [note] = await about(second, record["id"])
    assert note["kind"] == "record_to_confirm" and note["settled_at"]
    assert (
        "每季度开展一次便民服务" in note["body"]
        and clock.today().strftime("%m月%d日") in note["body"]
    )
    assert await unread(second) == 0
    # The unit hears that it counts now.
    [told] = await about(contact, record["id"])
    assert told["kind"] == "record_confirmed" and "每季度开展一次便民服务" in told["body"]


async def test_each_application_step_settles_the_last_and_names_the_community(api, new_community):
    community = await new_community(name="光明社区")
    worker = await staff_account(api, "community_admin", community)
    district = await staff_account(api, "district_admin", DISTRICT)
    r = await worker.post(
        "/api/v1/assessment/applications",
        json={"community_code": community, "year": YEAR, "statement": "申报示范社区"},
    )
    application = r.json()
    [note] = await about(api.street, application["id"])
    assert "光明社区" in note["body"] and community not in note["body"]
    steps = f"/api/v1/assessment/applications/{application['id']}/transitions"
    assert (await api.street.post(steps, json={"action": "recommend"})).is_success
    [note] = await about(api.street, application["id"])
    assert note["settled_at"], note
    [note] = await about(district, application["id"])
    assert note["settled_at"] is None and "光明社区" in note["body"]
    assert (await district.post(steps, json={"action": "approve"})).is_success
    [note] = await about(district, application["id"])
    assert note["settled_at"]
    [decided] = await about(worker, application["id"])
    assert decided["settled_at"] is None  # news to the community, nothing to do but read it


async def test_a_reviewed_volunteer_and_a_decided_extension_wait_no_more(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    community = cell["community_code"]
    manager = await staff_account(api, "community_admin", community)
    resident = await api.resident()
    r = await resident.post(
        "/api/v1/volunteer/volunteers",
        json={
            "name": "李四",
            "id_number": make_id_number(),
            "phone": "13700003333",
            "community_code": community,
        },
    )
    volunteer = r.json()
    assert volunteer["status"] == "pending"
    r = await api.admin.post(f"/api/v1/volunteer/volunteers/{volunteer['id']}/approve")
    assert r.is_success, r.text
    [note] = await about(manager, volunteer["id"])
    assert note["kind"] == "volunteer_review" and note["settled_at"]

    case = await report(grid, point)
    me = (await grid.get("/api/v1/me")).json()
    assert (await step(api.admin, case["id"], "accept")).is_success
    assert (await step(api.admin, case["id"], "dispatch", assignee_id=me["id"])).is_success
    r = await step(grid, case["id"], "request_extension", hours=24, note="需协调物业")
    assert r.is_success, r.text
    [ask] = [n for n in await about(manager, case["id"]) if n["kind"] == "extension_requested"]
    assert ask["settled_at"] is None
    assert (await step(manager, case["id"], "approve_extension")).is_success
    [ask] = [n for n in await about(manager, case["id"]) if n["kind"] == "extension_requested"]
    assert ask["settled_at"]
    # Handled: the dispatch no longer waits on the worker.
    r = await step(grid, case["id"], "handle", photos=[await uploaded(grid)], note="已清理")
    assert r.is_success, r.text
    [sent] = [n for n in await about(grid, case["id"]) if n["kind"] == "case_dispatched"]
    assert sent["settled_at"]
