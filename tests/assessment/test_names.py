"""Co-building as its people read it: who confirmed a record is named in its history, a
pledge's unit is in words (次, 小时/周), a flagged unit is told why, and the score export
holds numbers an official's Excel can sum, with the area named."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from services.common.clock import clock
from tests.factories import (
    YEAR,
    active_agreement,
    community_with,
    staff_account,
)

TODAY = clock.today()
QUARTER = f"{TODAY.year}Q{(TODAY.month - 1) // 3 + 1}"


async def record(contact, agreement: dict, pledge_id: str, quantity: float = 1) -> str:
    r = await contact.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/records",
        json={
            "pledge_id": pledge_id,
            "day": TODAY.isoformat(),
            "quantity": quantity,
            "description": "便民服务",
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_a_record_history_names_who_confirmed_it_beside_their_id(api, new_community):
    community = await new_community()
    worker = await staff_account(api, "community_admin", community, "刘社区")
    _, contact, agreement = await active_agreement(api, community, by=worker)
    done = await record(contact, agreement, agreement["pledges"][0]["id"])
    r = await worker.post(f"/api/v1/assessment/records/{done}/confirm", json={"note": "属实"})
    assert r.status_code == 200, r.text

    r = await contact.get(f"/api/v1/assessment/records/{done}/history")
    assert r.status_code == 200, r.text
    confirmed, _ = r.json()["items"]
    changes = {c["field"]: c["new"] for c in confirmed["changes"]}
    assert changes["reviewed_by"] == worker.user_id  # the id stays, for a client to key on
    assert changes["reviewer"] == f"刘社区 ({worker.user_id})"


async def test_an_agreement_history_names_who_signed_it_for_each_side(api, new_community):
    community = await new_community()
    worker = await staff_account(api, "community_admin", community, "刘社区")
    _, contact, agreement = await active_agreement(api, community, by=worker)

    r = await worker.get(f"/api/v1/assessment/agreements/{agreement['id']}/history")
    assert r.status_code == 200, r.text
    signed = [e for e in r.json()["items"] if e["action"] == "signed"]
    changes = {c["field"]: c for e in signed for c in e["changes"]}
    assert changes["community_signer"]["new"] == f"刘社区 ({worker.user_id})"
    assert changes["community_signer"]["field_name"] == "社区签署人"
    me = (await contact.get("/api/v1/me")).json()
    assert changes["unit_signer"]["new"].endswith(f"({me['id']})")
    assert not changes["unit_signer"]["new"].startswith("(")  # a name before the id
    assert signed[0]["action_name"] == "签署"


async def test_pledge_units_read_in_words_wherever_pledges_are_answered(api, new_community):
    community = await new_community()
    unit, contact, agreement = await active_agreement(api, community)
    services, facility = agreement["pledges"]
    # 每季度 1 次; 每周 16 小时, whose progress and score count the hours of the period.
    assert (services["target_unit"], services["target_unit_name"]) == ("times", "次")
    assert (facility["target_unit"], facility["target_unit_name"]) == (
        "opening_hours_per_week",
        "小时/周",
    )
    assert services["progress"]["unit_name"] == "次"
    assert facility["progress"]["unit_name"] == "小时"

    read = (await contact.get(f"/api/v1/assessment/agreements/{agreement['id']}")).json()
    assert [(p["target_unit_name"], p["progress"]["unit_name"]) for p in read["pledges"]] == [
        ("次", "次"),
        ("小时/周", "小时"),
    ]

    scores = (
        await api.street.get(
            "/api/v1/assessment/unit-scores", params={"area": community, "period": str(YEAR)}
        )
    ).json()
    row = next(u for u in scores["units"] if u["unit_id"] == unit["id"])
    by_pledge = {p["pledge_id"]: p for p in row["by_pledge"]}
    assert (
        by_pledge[services["id"]]["target_unit_name"],
        by_pledge[services["id"]]["unit_name"],
    ) == ("次", "次")
    assert (
        by_pledge[facility["id"]]["target_unit_name"],
        by_pledge[facility["id"]]["unit_name"],
    ) == ("小时/周", "小时")


async def test_a_flagged_unit_is_told_why_and_an_unflagged_one_is_not(api, new_community):
    """A unit contact sees their unit flagged (score under the line, 60 by default) and
    reads which pledges fell short; a unit that did all it pledged has no reasons."""
    community = await new_community()
    behind, behind_contact, behind_agreement = await active_agreement(api, community)
    ahead, ahead_contact, ahead_agreement = await active_agreement(api, community)
    services, _ = behind_agreement["pledges"]
    confirm = [await record(behind_contact, behind_agreement, services["id"])]
    for pledge, quantity in zip(ahead_agreement["pledges"], (1, 16 * 13), strict=True):
        confirm.append(await record(ahead_contact, ahead_agreement, pledge["id"], quantity))
    for record_id in confirm:
        r = await api.street.post(f"/api/v1/assessment/records/{record_id}/confirm", json={})
        assert r.status_code == 200, r.text

    r = await behind_contact.get(
        "/api/v1/assessment/unit-scores", params={"area": community, "period": QUARTER}
    )
    assert r.status_code == 200, r.text
    [mine] = r.json()["units"]
    assert mine["unit_id"] == behind["id"]
    assert (mine["score"], mine["flagged"]) == (50.0, True)
    assert mine["flag_codes"] == ["score_below_flag_line", "pledge_short"]
    assert mine["flag_reasons"] == [
        "履约得分 50 分,低于 60 分的警示线。",
        "设施联管“周末开放篮球场”:本期要求 208 小时,已确认 0 小时,完成 0%。",
    ]

    units = (
        await api.street.get(
            "/api/v1/assessment/unit-scores", params={"area": community, "period": QUARTER}
        )
    ).json()["units"]
    done = next(u for u in units if u["unit_id"] == ahead["id"])
    assert (done["score"], done["flagged"], done["flag_reasons"], done["flag_codes"]) == (
        100.0,
        False,
        [],
        [],
    )


async def test_the_score_export_holds_numbers_and_names_the_area(api, new_community):
    """0.75% is the number 0.0075 shown as a percentage, 320 m² the number 320, the rank an
    integer; 无数据 stays text; the first row names the area, its code beside it."""
    community = await community_with(api, new_community, 400, 3)
    r = await api.admin.patch(
        f"/api/v1/registry/areas/{community}",
        json={"name": "数字社区", "office_area_m2": 320, "full_time_staff": 6},
    )
    assert r.status_code == 200, r.text
    r = await api.street.get(
        "/api/v1/assessment/scores.xlsx", params={"area": community, "period": str(YEAR)}
    )
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0][:4]] == ["区划", "数字社区", "区划代码", community]
    header = next(row for row in rows if "社区代码" in [c.value for c in row])
    line = next(row for row in rows if community in [c.value for c in row][1:2])
    cell = dict(zip([c.value for c in header], line, strict=True))

    def number(name: str):
        found = cell[name]
        assert found.data_type == "n", (name, found.value, found.data_type)
        return found.value, found.number_format

    assert number("志愿者注册率") == (0.0075, "0.00%")
    assert number("办公和服务用房面积") == (320, '#,##0" m²"')
    assert number("专职工作人员人数") == (6, '#,##0" 人"')
    assert number("排名") == (1, "0")
    total, total_format = number("总分")
    assert isinstance(total, int | float) and total_format in ("#,##0", "#,##0.0", "#,##0.00")
    assert isinstance(cell["排名"].value, int) and isinstance(cell["专职工作人员人数"].value, int)
    # no figure: the words, as text, and not met
    assert (cell["活动广场面积"].value, cell["活动广场面积"].data_type) == ("无数据", "s")
    assert cell["活动广场面积达标情况"].value == "未达标(无数据)"
    assert cell["社区"].value == "数字社区" and cell["社区代码"].data_type == "s"


async def test_a_unit_contact_reads_the_areas_and_states_in_words(api, new_community):
    """demo-unit opens its agreement and its records: 服务联办, 生效中, 待确认 / 已确认 / 有异议
    beside the codes a client keys on."""
    community = await new_community()
    _, contact, agreement = await active_agreement(api, community)
    assert (agreement["status"], agreement["status_name"]) == ("active", "生效中")
    services, facility = agreement["pledges"]
    assert (services["category"], services["category_name"]) == ("services", "服务联办")
    assert (facility["category"], facility["category_name"]) == ("facilities", "设施联管")

    read = (await contact.get(f"/api/v1/assessment/agreements/{agreement['id']}")).json()
    assert [p["category_name"] for p in read["pledges"]] == ["服务联办", "设施联管"]
    listed = (await contact.get("/api/v1/assessment/agreements")).json()["items"]
    assert {a["status_name"] for a in listed if a["id"] == agreement["id"]} == {"生效中"}

    r = await contact.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/records",
        json={
            "pledge_id": services["id"],
            "day": TODAY.isoformat(),
            "quantity": 1,
            "description": "便民服务",
        },
    )
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["status_name"]) == ("submitted", "待确认")
    confirmed, disputed = r.json()["id"], await record(contact, agreement, services["id"])

    r = await api.street.post(f"/api/v1/assessment/records/{confirmed}/confirm", json={})
    assert (r.json()["status"], r.json()["status_name"]) == ("confirmed", "已确认")
    r = await api.street.post(f"/api/v1/assessment/records/{disputed}/dispute", json={})
    assert (r.json()["status"], r.json()["status_name"]) == ("disputed", "有异议")
    records = (
        await contact.get(f"/api/v1/assessment/agreements/{agreement['id']}/records")
    ).json()["items"]
    assert {r["id"]: r["status_name"] for r in records} == {
        confirmed: "已确认",
        disputed: "有异议",
    }


async def test_a_record_history_names_its_agreement_and_pledge_beside_their_ids(api, new_community):
    community = await new_community()
    _, contact, agreement = await active_agreement(api, community)
    services = agreement["pledges"][0]
    done = await record(contact, agreement, services["id"])
    r = await api.street.post(f"/api/v1/assessment/records/{done}/confirm", json={})
    assert r.status_code == 200, r.text

    r = await contact.get(f"/api/v1/assessment/records/{done}/history")
    assert r.status_code == 200, r.text
    confirmed, created = r.json()["items"]
    fields = {c["field"]: c for c in created["changes"]}
    assert fields["agreement_id"]["new"] == agreement["id"]  # the ids stay
    assert fields["pledge_id"]["new"] == services["id"]
    assert (fields["agreement"]["field_name"], fields["agreement"]["new"]) == (
        "协议",
        f"共驻共建协议 ({agreement['id']})",
    )
    assert (fields["pledge"]["field_name"], fields["pledge"]["new"]) == (
        "承诺事项",
        f"服务联办“每季度开展一次便民服务” ({services['id']})",
    )
    assert fields["status"]["new_name"] == "待确认"
    # a review changes neither: it lists only what it changed
    assert {c["field"] for c in confirmed["changes"]} >= {"status", "reviewer"}
    assert not {"agreement", "pledge"} & {c["field"] for c in confirmed["changes"]}
