"""Street and district officials 街道 / 区: a district account approves what a street
recommended, reads an application with its steps and score, makes the street accounts of its
district; and the score export reads as an official reads it."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.factories import STREET_A, STREET_B, YEAR, community_with
from tests.support import assert_problem, unique


async def community_worker(api, community: str):
    username = unique("ca")
    r = await api.admin.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": "community-pass-1",
            "role": "community_admin",
            "scope": [community],
        },
    )
    assert r.status_code == 201, r.text
    return await api.login(username, "community-pass-1")


async def test_the_district_approves_what_the_street_recommended(api, new_community):
    me = (await api.district.get("/api/v1/me")).json()
    assert me["roles"] == ["district_admin"] and me["scope"] == ["410105"]
    community = await new_community(STREET_A, "申报社区")
    worker = await community_worker(api, community)
    r = await worker.post(
        "/api/v1/assessment/applications",
        json={"community_code": community, "year": YEAR, "statement": "申报示范社区"},
    )
    assert r.status_code == 201, r.text
    application = r.json()
    steps = f"/api/v1/assessment/applications/{application['id']}/transitions"
    # the district neither skips the street nor recommends in its place
    assert_problem(await api.district.post(steps, json={"action": "approve"}), 409)
    assert_problem(
        await api.district.post(steps, json={"action": "recommend"}),
        403,
        "application.wrong_level",
    )
    r = await api.street.post(steps, json={"action": "recommend", "note": "同意推荐"})
    assert r.status_code == 200 and r.json()["status"] == "recommended", r.text
    assert_problem(
        await api.street.post(steps, json={"action": "approve"}), 403, "application.wrong_level"
    )
    # the district official opens the application: every step so far and the score it came with
    read = await api.district.get(f"/api/v1/assessment/applications/{application['id']}")
    assert read.status_code == 200, read.text
    body = read.json()
    assert [(h["action"], h["to_status"]) for h in body["history"]] == [
        ("submit", "submitted"),
        ("recommend", "recommended"),
    ]
    assert body["history"][1]["note"] == "同意推荐"
    assert body["score"]["community_code"] == community and body["score"]["indicators"]
    # a street account holding the district's code is still a street: it does not approve
    street_wide = unique("sw")
    r = await api.admin.post(
        "/api/v1/users",
        json={
            "username": street_wide,
            "password": "street-wide-1",
            "role": "street_admin",
            "scope": ["410105"],
        },
    )
    assert r.status_code == 201, r.text
    street_wide = await api.login(street_wide, "street-wide-1")
    assert_problem(
        await street_wide.post(steps, json={"action": "approve"}), 403, "application.wrong_level"
    )
    # another district's official does not even find it
    elsewhere = unique("d")
    r = await api.admin.post(
        "/api/v1/users",
        json={
            "username": elsewhere,
            "password": "district-pass-2",
            "role": "district_admin",
            "scope": ["410106"],
        },
    )
    assert r.status_code == 201, r.text
    elsewhere = await api.login(elsewhere, "district-pass-2")
    assert_problem(await elsewhere.get(f"/api/v1/assessment/applications/{application['id']}"), 404)
    assert_problem(await elsewhere.post(steps, json={"action": "approve"}), 404)
    r = await api.district.post(steps, json={"action": "approve", "note": "批准"})
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    assert [h["action"] for h in r.json()["history"]] == ["submit", "recommend", "approve"]
    listed = await api.district.get("/api/v1/assessment/applications", params={"year": YEAR})
    assert application["id"] in {a["id"] for a in listed.json()["items"]}


async def test_a_missing_application_is_a_404(api):
    assert_problem(await api.district.get("/api/v1/assessment/applications/nope"), 404)


async def test_the_district_makes_street_accounts_inside_its_district_only(api):
    def account(role: str, scope: list[str], **extra) -> dict:
        return {
            "username": unique("acct"),
            "password": "account-pass-1",
            "role": role,
            "scope": scope,
            **extra,
        }

    r = await api.district.post("/api/v1/users", json=account("street_admin", [STREET_B[:9]]))
    assert r.status_code == 201, r.text
    r = await api.district.post(
        "/api/v1/users",
        json=account(
            "community_admin", ["410105002001"], extra_permissions=["assessment:recommend"]
        ),
    )
    assert r.status_code == 201, r.text
    assert_problem(
        await api.district.post("/api/v1/users", json=account("street_admin", ["410106001"])),
        403,
        "auth.out_of_scope",
    )
    assert_problem(
        await api.district.post("/api/v1/users", json=account("district_admin", ["410105"])),
        403,
        "user.role_not_allowed",
    )
    assert_problem(
        await api.street.post("/api/v1/users", json=account("district_admin", ["410105001"])),
        403,
        "user.role_not_allowed",
    )
    # personal data, audit and accounts are not handed down by a district either
    r = await api.district.post(
        "/api/v1/users",
        json=account("street_admin", ["410105002"], extra_permissions=["users:scope"]),
    )
    assert_problem(r, 422, "validation.permission_not_grantable")


async def test_the_score_export_reads_as_an_official_reads_it(api, new_community):
    """志愿者注册率 0.75%, 办公和服务用房面积 320 m², 专职工作人员人数 6 人 (numbers, shown so by
    their number format), pass or fail in words, and 无数据 where a community has no figure —
    not ``✗ 0.0075`` and a blank."""
    community = await community_with(api, new_community, 400, 3)
    r = await api.admin.patch(
        f"/api/v1/registry/areas/{community}",
        json={"office_area_m2": 320, "full_time_staff": 6},
    )
    assert r.status_code == 200, r.text
    r = await api.street.get(
        "/api/v1/assessment/scores.xlsx", params={"area": community, "period": str(YEAR)}
    )
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = [list(row) for row in sheet.iter_rows()]
    values = [[c.value for c in row] for row in rows]
    header = next(row for row in values if "社区代码" in row)
    line = next(row for row in rows[values.index(header) + 1 :] if row[1].value == community)
    cell = {name: (c.value, c.number_format) for name, c in zip(header, line, strict=True)}
    assert cell["志愿者注册率"] == (0.0075, "0.00%")
    assert cell["志愿者注册率达标情况"][0] == "未达标"
    assert cell["办公和服务用房面积"] == (320, '#,##0" m²"')
    assert cell["办公和服务用房面积达标情况"][0] == "达标"
    assert cell["专职工作人员人数"] == (6, '#,##0" 人"')
    assert cell["专职工作人员人数达标情况"][0] == "未达标"
    assert cell["活动广场面积"][0] == "无数据"
    # no figure counts as not met, and says why
    assert cell["活动广场面积达标情况"][0] == "未达标(无数据)"
    # what each indicator asks, under its name
    standard = next(row for row in values if row and row[0] == "达标标准")
    assert dict(zip(header, standard, strict=True))["志愿者注册率"] == "≥ 10%"
    everything = [str(v) for row in values for v in row if v is not None]
    assert not any(v.startswith(("✓", "✗")) for v in everything)
    assert None not in [c.value for c in line]
    assert values[0][:4] == ["区划", "测试社区", "区划代码", community]


async def test_an_application_reads_in_words_and_an_illegal_step_says_what_is_possible(
    api, new_community
):
    """demo-district tries to approve what the street has not recommended yet: told in words
    what the application is waiting for and what can be done now."""
    community = await new_community(STREET_A, "申报社区")
    worker = await community_worker(api, community)
    r = await worker.post(
        "/api/v1/assessment/applications",
        json={"community_code": community, "year": YEAR, "statement": "申报示范社区"},
    )
    assert r.status_code == 201, r.text
    application = r.json()
    assert (application["status"], application["status_name"]) == ("submitted", "待街道推荐")
    [sent] = application["history"]
    assert (sent["action_name"], sent["from_status_name"], sent["to_status_name"]) == (
        "提交申请",
        None,
        "待街道推荐",
    )
    steps = f"/api/v1/assessment/applications/{application['id']}/transitions"

    body = assert_problem(
        await api.district.post(steps, json={"action": "approve"}), 409, "application.illegal_step"
    )
    assert body["detail"] == "申请当前为“待街道推荐”,不能“区级批准”;现在可以:街道推荐、驳回。"
    assert (body["allowed"], body["allowed_names"]) == (
        ["recommend", "reject"],
        ["街道推荐", "驳回"],
    )
    body = assert_problem(
        await api.district.post(
            steps, json={"action": "approve"}, headers={"Accept-Language": "en"}
        ),
        409,
    )
    assert body["detail"] == (
        "Action approve is not allowed in status submitted; allowed now: recommend, reject."
    )

    r = await api.street.post(steps, json={"action": "recommend"})
    assert r.status_code == 200, r.text
    assert r.json()["status_name"] == "待区级审批"
    recommended = r.json()["history"][1]
    assert (
        recommended["action_name"],
        recommended["from_status_name"],
        recommended["to_status_name"],
    ) == ("街道推荐", "待街道推荐", "待区级审批")
    r = await api.district.post(steps, json={"action": "reject", "note": "材料不全"})
    assert (r.json()["status"], r.json()["status_name"]) == ("rejected", "已驳回")
    # once decided, nothing more is possible, and the sentence says so
    body = assert_problem(await api.district.post(steps, json={"action": "approve"}), 409)
    assert body["detail"] == "申请当前为“已驳回”,不能“区级批准”;现在可以:无(申请已办结)。"
    assert (body["allowed"], body["allowed_names"]) == ([], [])
    listed = await api.district.get("/api/v1/assessment/applications", params={"year": YEAR})
    mine = next(a for a in listed.json()["items"] if a["id"] == application["id"])
    assert mine["status_name"] == "已驳回"


async def test_the_score_json_says_how_each_value_reads(api, new_community):
    """An official's client shows 0.75%, 320 m², 0 次 as the export does — not 0.0075% —
    and a community without a figure reads 无数据, not met, explicitly."""
    community = await community_with(api, new_community, 400, 3)
    r = await api.admin.patch(
        f"/api/v1/registry/areas/{community}",
        json={"office_area_m2": 320, "full_time_staff": 6},
    )
    assert r.status_code == 200, r.text
    r = await api.street.get(
        "/api/v1/assessment/scores", params={"area": community, "period": str(YEAR)}
    )
    assert r.status_code == 200, r.text
    [row] = r.json()["communities"]
    by_code = {i["code"]: i for i in row["indicators"]}

    rate = by_code["volunteer_rate"]
    assert (rate["value"], rate["unit"]) == (0.0075, "%")  # the number stays a fraction
    assert (rate["display"], rate["no_data"], rate["passed_name"]) == ("0.75%", False, "未达标")
    assert rate["threshold_display"] == "≥ 10%"
    office = by_code["office_service_space"]
    assert (office["value"], office["display"], office["passed_name"]) == (320, "320 m²", "达标")
    assert by_code["staff_minimum"]["display"] == "6 人"
    assert by_code["coordination_meetings"]["display"] == "0 次"
    square = by_code["activity_square"]
    assert (square["value"], square["passed"]) == (None, False)
    assert (square["display"], square["no_data"], square["passed_name"]) == (
        "无数据",
        True,
        "未达标(无数据)",
    )


async def test_the_district_export_names_each_communitys_street(api, new_community):
    """demo-district ranks communities across streets: each row says which street."""
    here = await new_community(STREET_A, "东区社区")
    there = await new_community(STREET_B, "西区社区")
    r = await api.district.get(
        "/api/v1/assessment/scores.xlsx", params={"area": "410105", "period": str(YEAR)}
    )
    assert r.status_code == 200, r.text
    values = [[c.value for c in row] for row in load_workbook(io.BytesIO(r.content)).active]
    header = next(row for row in values if "社区代码" in row)
    assert header[:5] == ["排名", "社区代码", "社区", "街道", "总分"]
    rows = {
        row[1]: dict(zip(header, row, strict=True)) for row in values if row[1] in (here, there)
    }
    assert (rows[here]["社区"], rows[here]["街道"]) == ("东区社区", "经八路街道")
    assert (rows[there]["社区"], rows[there]["街道"]) == ("西区社区", "花园路街道")

    # a street's own export needs no such column
    r = await api.street.get(
        "/api/v1/assessment/scores.xlsx", params={"area": STREET_A, "period": str(YEAR)}
    )
    values = [[c.value for c in row] for row in load_workbook(io.BytesIO(r.content)).active]
    assert "街道" not in next(row for row in values if "社区代码" in row)


async def test_an_application_reads_its_score_as_the_scores_page_does(api, new_community):
    """The street official opens a model-community application: each indicator of the score
    it came with reads 0.75%, 320 m², 无数据 and 达标 / 未达标, worded as /scores words it."""
    community = await community_with(api, new_community, 400, 3)
    r = await api.admin.patch(
        f"/api/v1/registry/areas/{community}",
        json={"office_area_m2": 320, "full_time_staff": 6},
    )
    assert r.status_code == 200, r.text
    worker = await community_worker(api, community)
    r = await worker.post(
        "/api/v1/assessment/applications",
        json={"community_code": community, "year": YEAR, "statement": "申报示范社区"},
    )
    assert r.status_code == 201, r.text
    read = await api.street.get(f"/api/v1/assessment/applications/{r.json()['id']}")
    assert read.status_code == 200, read.text
    score = read.json()["score"]
    by_code = {i["code"]: i for i in score["indicators"]}
    rate = by_code["volunteer_rate"]
    assert (rate["display"], rate["no_data"], rate["passed_name"]) == ("0.75%", False, "未达标")
    assert rate["threshold_display"] == "≥ 10%"
    office = by_code["office_service_space"]
    assert (office["display"], office["passed_name"]) == ("320 m²", "达标")
    square = by_code["activity_square"]
    assert (square["display"], square["no_data"], square["passed_name"]) == (
        "无数据",
        True,
        "未达标(无数据)",
    )

    live = await api.street.get(
        "/api/v1/assessment/scores", params={"area": community, "period": str(YEAR)}
    )
    [row] = live.json()["communities"]
    assert set(score) == set(row) and set(rate) == set(row["indicators"][0])
