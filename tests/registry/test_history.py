"""What changed: a community worker reads who changed a resident, who moved them out, when
(in Beijing time) and which fields, the personal data masked; the history of a record
outside the caller's scope is as absent as the record."""

from __future__ import annotations

from datetime import timedelta

from services.common.clock import clock
from tests.factories import HOME, STREET_B, credit_code, staff_account
from tests.support import assert_problem, changes_of, make_id_number


async def test_a_community_worker_sees_who_changed_and_moved_out_a_resident(api, base_areas):
    number = make_id_number()
    old_phone, new_phone = "13811112222", "13933334444"
    r = await api.community.post(
        "/api/v1/registry/residents",
        json={"name": "黄博然", "id_number": number, "phone": old_phone, "community_code": HOME},
    )
    assert r.status_code == 201, r.text
    resident = r.json()["id"]

    # The street's official corrects the phone, then moves the resident out.
    r = await api.street.patch(f"/api/v1/registry/residents/{resident}", json={"phone": new_phone})
    assert r.status_code == 200, r.text
    # A move-out is recorded once it has happened: tomorrow is not a day they left.
    r = await api.street.post(
        f"/api/v1/registry/residents/{resident}/move-out",
        json={"moved_out_on": str(clock.today() + timedelta(days=1)), "reason": "迁往外省"},
    )
    body = assert_problem(r, 422, "validation.in_future")
    assert body["errors"][0]["field"] == "moved_out_on" and str(clock.today()) in r.text
    r = await api.street.post(
        f"/api/v1/registry/residents/{resident}/move-out",
        json={"moved_out_on": str(clock.today()), "reason": "迁往外省"},
    )
    assert r.status_code == 200, r.text

    r = await api.community.get(f"/api/v1/registry/residents/{resident}/history")
    assert r.status_code == 200, r.text
    page = r.json()
    for secret in (number, old_phone, new_phone):
        assert secret not in r.text  # masked, never the full value
    moved, patched, created = page["items"]  # newest first
    assert page["next_cursor"] is None

    assert moved["action"] == "moved_out"
    assert moved["actor_name"] == "经八路街道办" and moved["actor_id"]
    assert moved["at"].endswith("+08:00")
    changes = {c["field"]: (c["old"], c["new"]) for c in moved["changes"]}
    assert changes["status"] == ("current", "moved_out")
    assert changes["moved_out_on"] == (None, str(clock.today()))
    assert changes["move_out_reason"] == (None, "迁往外省")
    # As a worker reads it: the action, each field and each code by its Chinese name.
    assert moved["action_name"] == "迁出"
    status = next(c for c in moved["changes"] if c["field"] == "status")
    assert (status["field_name"], status["old_name"], status["new_name"]) == (
        "状态",
        "在册",
        "已迁出",
    )

    assert patched["action"] == "updated" and patched["actor_name"] == "经八路街道办"
    assert changes_of(patched) == [{"field": "phone", "old": "138****2222", "new": "139****4444"}]
    assert patched["action_name"] == "修改" and patched["changes"][0]["field_name"] == "手机号"

    assert created["action"] == "created" and created["actor_name"] == "黄河路社区工作者"
    fields = {c["field"]: c["new"] for c in created["changes"]}
    assert fields["name"] == "黄博然"
    assert fields["id_number"] == number[:6] + "********" + number[-4:]
    assert fields["phone"] == "138****2222"

    # Pages of one, newest first.
    first = await api.community.get(
        f"/api/v1/registry/residents/{resident}/history", params={"limit": 1}
    )
    assert [e["action"] for e in first.json()["items"]] == ["moved_out"]
    second = await api.community.get(
        f"/api/v1/registry/residents/{resident}/history",
        params={"limit": 1, "cursor": first.json()["next_cursor"]},
    )
    assert [e["action"] for e in second.json()["items"]] == ["updated"]

    # A community worker of another street finds neither the resident nor its history.
    elsewhere = await staff_account(api, "community_admin", STREET_B[:9], "花园路社区工作者")
    assert_problem(await elsewhere.get(f"/api/v1/registry/residents/{resident}/history"), 404)
    assert_problem(await elsewhere.get(f"/api/v1/registry/residents/{resident}"), 404)


async def test_buildings_households_units_and_areas_keep_their_history(api, new_community):
    community = await new_community()
    r = await api.street.post(
        "/api/v1/registry/buildings", json={"community_code": community, "name": "1号楼"}
    )
    building = r.json()["id"]
    r = await api.street.post(
        "/api/v1/registry/households", json={"building_id": building, "door_no": "101"}
    )
    household = r.json()["id"]
    await api.street.patch(f"/api/v1/registry/households/{household}", json={"door_no": "102"})
    r = await api.street.post(
        "/api/v1/registry/units",
        json={
            "name": "某某公司",
            "uscc": credit_code(),
            "category": "enterprise",
            "community_code": community,
            "contact_phone": "13712345678",
        },
    )
    unit = r.json()["id"]
    r = await api.street.patch(
        f"/api/v1/registry/units/{unit}", json={"contact_phone": "13787654321"}
    )
    assert r.status_code == 200, r.text
    await api.street.patch(f"/api/v1/registry/areas/{community}", json={"full_time_staff": 7})
    second = await api.street.post(
        "/api/v1/registry/buildings", json={"community_code": community, "name": "2号楼"}
    )
    r = await api.street.delete(f"/api/v1/registry/buildings/{second.json()['id']}")
    assert r.status_code in (200, 204), r.text

    r = await api.street.get(f"/api/v1/registry/households/{household}/history")
    assert [e["action"] for e in r.json()["items"]] == ["updated", "created"]
    assert changes_of(r.json()["items"][0]) == [{"field": "door_no", "old": "101", "new": "102"}]

    r = await api.street.get(f"/api/v1/registry/units/{unit}/history")
    assert "13712345678" not in r.text and "13787654321" not in r.text
    assert changes_of(r.json()["items"][0]) == [
        {"field": "contact_phone", "old": "137****5678", "new": "137****4321"}
    ]

    r = await api.street.get(f"/api/v1/registry/areas/{community}/history")
    assert changes_of(r.json()["items"][0]) == [{"field": "full_time_staff", "old": None, "new": 7}]

    # A deleted building's history stays readable to those who reached it.
    r = await api.street.get(f"/api/v1/registry/buildings/{second.json()['id']}/history")
    assert [e["action"] for e in r.json()["items"]] == ["deleted", "created"], r.text
    assert r.json()["items"][0]["actor_name"] == "经八路街道办"
    other = await staff_account(api, "street_admin", STREET_B[:9], "花园路街道办")
    assert_problem(
        await other.get(f"/api/v1/registry/buildings/{second.json()['id']}/history"), 404
    )
    assert_problem(await other.get(f"/api/v1/registry/buildings/{building}/history"), 404)


async def test_a_residents_history_names_the_household_beside_its_id(api, new_community):
    """A worker reads where the resident lives, not a raw id: 6号楼 2单元301 (id) beside the
    household_id, when registered, moved between households, and imported."""
    from tests.factories import csv_roster as csv_bytes
    from tests.factories import finished_import as finished
    from tests.factories import upload_roster as upload

    community = await new_community()
    building = await api.admin.post(
        "/api/v1/registry/buildings", json={"community_code": community, "name": "6号楼"}
    )
    doors = {}
    for door in ("2单元301", "2单元302"):
        r = await api.admin.post(
            "/api/v1/registry/households",
            json={"building_id": building.json()["id"], "door_no": door},
        )
        doors[door] = r.json()["id"]
    r = await api.street.post(
        "/api/v1/registry/residents",
        json={
            "name": "黄博然",
            "id_number": make_id_number(),
            "community_code": community,
            "household_id": doors["2单元301"],
        },
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    r = await api.street.patch(
        f"/api/v1/registry/residents/{rid}", json={"household_id": doors["2单元302"]}
    )
    assert r.status_code == 200, r.text
    page = (await api.street.get(f"/api/v1/registry/residents/{rid}/history")).json()
    moved, created = page["items"]
    created_changes = {c["field"]: c for c in created["changes"]}
    assert created_changes["household"]["new"] == f"6号楼 2单元301 ({doors['2单元301']})"
    assert created_changes["household"]["field_name"] == "所在户"
    fields = [c["field"] for c in moved["changes"]]
    assert fields.index("household") == fields.index("household_id") + 1
    household = next(c for c in moved["changes"] if c["field"] == "household")
    assert (household["old"], household["new"]) == (
        f"6号楼 2单元301 ({doors['2单元301']})",
        f"6号楼 2单元302 ({doors['2单元302']})",
    )

    # A roster moves another resident into 2单元302 and a third into a new household.
    rows = [
        ["史一", make_id_number(), "", community, "6号楼", "2单元302", "", "", "", ""],
        ["史二", make_id_number(), "", community, "6号楼", "3单元101", "", "", "", ""],
    ]
    r = await upload(api.admin, csv_bytes(rows), name="花名册.csv")
    await finished(api.admin, r.json()["id"])
    listed = (
        await api.admin.get("/api/v1/registry/residents", params={"community": community})
    ).json()["items"]
    by_name = {i["name"]: i for i in listed}
    for name, door in (("史一", "2单元302"), ("史二", "3单元101")):
        resident = by_name[name]
        [entry] = (
            await api.admin.get(f"/api/v1/registry/residents/{resident['id']}/history")
        ).json()["items"]
        changes = {c["field"]: c["new"] for c in entry["changes"]}
        assert changes["household"] == f"6号楼 {door} ({resident['household_id']})"


async def test_households_a_roster_creates_have_their_history(api, new_community):
    """A household that first appears in a roster — a resident's door, or a row of the
    households roster — has its 'created' entry by whoever asked for the import, as one
    added through the form has."""
    from tests.factories import csv_roster, finished_import, upload_roster

    community = await new_community()
    r = await api.admin.post(
        "/api/v1/registry/buildings", json={"community_code": community, "name": "7号楼"}
    )
    building = r.json()["id"]
    rows = [
        ["许一", make_id_number(), "", community, "7号楼", "1单元101", "", "", "", ""],
        ["许二", make_id_number(), "", community, "7号楼", "1单元102", "", "", "", ""],
    ]
    job = await upload_roster(api.street, csv_roster(rows), name="花名册.csv")
    await finished_import(api.street, job.json()["id"])
    job = await upload_roster(
        api.street,
        csv_roster(
            [[community, "7号楼", "2单元201", "许三"]],
            header=["社区代码", "楼栋", "门牌号", "户主姓名"],
        ),
        name="住户.csv",
        kind="households",
    )
    await finished_import(api.street, job.json()["id"])
    listed = (
        await api.street.get("/api/v1/registry/households", params={"building_id": building})
    ).json()["items"]
    assert sorted(h["door_no"] for h in listed) == ["1单元101", "1单元102", "2单元201"]
    for household in listed:
        r = await api.street.get(f"/api/v1/registry/households/{household['id']}/history")
        [entry] = r.json()["items"]
        assert entry["action"] == "created" and entry["actor_name"] == "经八路街道办", entry
        changes = {c["field"]: c["new"] for c in entry["changes"]}
        assert changes["door_no"] == household["door_no"]
        assert changes["building_id"] == building and changes["community_code"] == community
    head = next(h for h in listed if h["door_no"] == "2单元201")
    r = await api.street.get(f"/api/v1/registry/households/{head['id']}/history")
    assert {c["field"]: c["new"] for c in r.json()["items"][0]["changes"]}["head_name"] == "许三"
