"""Co-building agreements and their records; the indicator-based assessment of communities
and units; model-community applications."""

from __future__ import annotations

from services.common.clock import clock
from tests.factories import (
    DISTRICT,
    STREET_A,
    STREET_B,
    active_agreement,
    agreement_body,
    community_with,
    unit_with_contact,
)
from tests.support import assert_problem

YEAR = clock.today().year


async def test_an_agreement_is_active_only_after_both_signatures(api, new_community):
    community = await new_community()
    unit, contact = await unit_with_contact(api, community)
    r = await api.street.post(
        "/api/v1/assessment/agreements", json=agreement_body(unit["id"], community)
    )
    agreement = r.json()
    assert agreement["status"] == "draft" and agreement["unit_name"] == unit["name"]
    signed = await contact.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/sign", json={"party": "unit"}
    )
    assert signed.json()["status"] == "draft"
    # the unit cannot sign for the community, nor another unit for this one
    assert_problem(
        await contact.post(
            f"/api/v1/assessment/agreements/{agreement['id']}/sign", json={"party": "community"}
        ),
        403,
    )
    _, stranger = await unit_with_contact(api, community)
    assert_problem(await stranger.get(f"/api/v1/assessment/agreements/{agreement['id']}"), 404)
    both = await api.street.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/sign", json={"party": "community"}
    )
    assert both.json()["status"] == "active"
    listed = (await contact.get("/api/v1/assessment/agreements")).json()
    assert [a["id"] for a in listed["items"]] == [agreement["id"]]
    # the pledged facility is now discoverable by residents
    resident = await api.resident()
    found = (
        await resident.get("/api/v1/assessment/facilities", params={"community": community})
    ).json()["items"]
    assert [(f["name"], f["unit_name"]) for f in found] == [("篮球场", unit["name"])]
    # an amendment is a new version; the old one stays until the new one is signed
    amended = (
        await api.street.post(
            f"/api/v1/assessment/agreements/{agreement['id']}/amend",
            json=agreement_body(unit["id"], community, title="共驻共建协议(修订)"),
        )
    ).json()
    assert (amended["version"], amended["root_id"], amended["status"]) == (
        2,
        agreement["id"],
        "draft",
    )
    await contact.post(
        f"/api/v1/assessment/agreements/{amended['id']}/sign", json={"party": "unit"}
    )
    await api.street.post(
        f"/api/v1/assessment/agreements/{amended['id']}/sign", json={"party": "community"}
    )
    old = (await api.street.get(f"/api/v1/assessment/agreements/{agreement['id']}")).json()
    assert old["status"] == "superseded"
    r = await contact.post(f"/api/v1/assessment/agreements/{amended['id']}/terminate", json={})
    assert_problem(r, 422)


async def test_only_confirmed_records_count(api, new_community):
    community = await new_community()
    unit, contact, agreement = await active_agreement(api, community)
    service_pledge = agreement["pledges"][0]["id"]
    for quarter_day in (f"{YEAR}-02-01", f"{YEAR}-05-01"):
        r = await contact.post(
            f"/api/v1/assessment/agreements/{agreement['id']}/records",
            json={
                "pledge_id": service_pledge,
                "day": quarter_day,
                "quantity": 1,
                "participants": 12,
                "description": "义诊",
            },
        )
        assert r.status_code == 201, r.text
    records = (
        await api.street.get(f"/api/v1/assessment/agreements/{agreement['id']}/records")
    ).json()["items"]
    scores = (
        await api.street.get(
            "/api/v1/assessment/unit-scores", params={"area": community, "period": str(YEAR)}
        )
    ).json()
    assert scores["units"][0]["fulfilment"] == 0  # nothing confirmed yet
    await api.street.post(
        f"/api/v1/assessment/records/{records[0]['id']}/confirm", json={"note": "属实"}
    )
    await api.street.post(
        f"/api/v1/assessment/records/{records[1]['id']}/dispute", json={"note": "无照片"}
    )
    scores = (
        await api.street.get(
            "/api/v1/assessment/unit-scores", params={"area": community, "period": str(YEAR)}
        )
    ).json()
    unit_row = scores["units"][0]
    # one confirmed of the four services a year asks; nothing yet for the facility pledge
    assert unit_row["unit_id"] == unit["id"] and unit_row["by_pledge"][0]["fulfilment"] == 0.25
    assert unit_row["flagged"] is True and unit_row["advanced_candidate"] is False
    assert_problem(
        await contact.post(f"/api/v1/assessment/records/{records[0]['id']}/confirm", json={}), 403
    )


async def test_nine_point_nine_percent_fails_and_ten_passes(api, new_community):
    failing = await community_with(api, new_community, 1000, 99)
    passing = await community_with(api, new_community, 1000, 100)
    scores = (
        await api.street.get(
            "/api/v1/assessment/scores",
            params={"area": "410105001000", "period": str(YEAR), "live": "true"},
        )
    ).json()
    rows = {c["community_code"]: c for c in scores["communities"]}

    def rate(code):
        return next(i for i in rows[code]["indicators"] if i["code"] == "volunteer_rate")

    assert (rate(failing)["value"], rate(failing)["passed"]) == (0.099, False)
    # The street's code as its scope spells it (410105001) is the same area.
    short = await api.street.get(
        "/api/v1/assessment/scores",
        params={"area": "410105001", "period": str(YEAR), "live": "true"},
    )
    assert short.status_code == 200, short.text
    assert short.json()["area"] == "410105001000"
    assert {c["community_code"] for c in short.json()["communities"]} == set(rows)
    assert (rate(passing)["value"], rate(passing)["passed"]) == (0.1, True)
    assert (rate(passing)["numerator"], rate(passing)["denominator"], rate(passing)["source"]) == (
        100,
        1000,
        "volunteer",
    )
    assert rows[passing]["total"] > rows[failing]["total"]
    assert rows[passing]["rank"] < rows[failing]["rank"]


async def test_a_published_score_does_not_move_when_the_data_moves(api, new_community):
    community = await new_community()
    r = await api.street.post(
        "/api/v1/assessment/scores/publish", json={"area": community, "period": f"{YEAR}Q1"}
    )
    assert r.status_code == 201, r.text
    published = r.json()
    meeting = next(
        i for i in published["communities"][0]["indicators"] if i["code"] == "coordination_meetings"
    )
    assert meeting["passed"] is False
    await api.street.post(
        "/api/v1/assessment/meetings",
        json={
            "community_code": community,
            "day": f"{YEAR}-02-15",
            "minutes": "季度协调会",
            "attending_units": [],
        },
    )
    again = (
        await api.street.get(
            "/api/v1/assessment/scores", params={"area": community, "period": f"{YEAR}Q1"}
        )
    ).json()
    assert again["published"] is True and again["communities"] == published["communities"]
    live = (
        await api.street.get(
            "/api/v1/assessment/scores",
            params={"area": community, "period": f"{YEAR}Q1", "live": "true"},
        )
    ).json()
    assert (
        next(
            i for i in live["communities"][0]["indicators"] if i["code"] == "coordination_meetings"
        )["passed"]
        is True
    )
    republished = (
        await api.street.post(
            "/api/v1/assessment/scores/publish", json={"area": community, "period": f"{YEAR}Q1"}
        )
    ).json()
    assert republished["version"] == 2
    xlsx = await api.street.get(
        "/api/v1/assessment/scores.xlsx", params={"area": community, "period": f"{YEAR}Q1"}
    )
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


async def test_changing_a_threshold_for_next_year_leaves_this_year(api, new_community):
    current = (
        await api.admin.get("/api/v1/assessment/indicators", params={"period": str(YEAR)})
    ).json()
    office = next(i for i in current if i["code"] == "office_service_space")
    assert float(office["threshold"]) == 300 and "000" in office["seed"]
    r = await api.admin.put(
        "/api/v1/assessment/indicators",
        json=[
            {
                **{
                    k: office[k]
                    for k in (
                        "code",
                        "name",
                        "kind",
                        "source",
                        "numerator",
                        "denominator",
                        "factor",
                        "comparator",
                        "weight",
                        "unit",
                    )
                },
                "threshold": 600,
                "seed": "seed 002: newer standard",
                "valid_from": str(YEAR + 1),
            }
        ],
    )
    assert r.status_code == 200, r.text
    this_year = next(
        i
        for i in (
            await api.admin.get("/api/v1/assessment/indicators", params={"period": str(YEAR)})
        ).json()
        if i["code"] == "office_service_space"
    )
    next_year = next(
        i
        for i in (
            await api.admin.get("/api/v1/assessment/indicators", params={"period": str(YEAR + 1)})
        ).json()
        if i["code"] == "office_service_space"
    )
    assert (float(this_year["threshold"]), float(next_year["threshold"])) == (300, 600)
    assert_problem(await api.street.put("/api/v1/assessment/indicators", json=[]), 403)


async def test_model_community_application_goes_up_level_by_level(api, new_community, base_areas):
    community = "410105001001"  # demo-community's own
    r = await api.community.post(
        "/api/v1/assessment/applications",
        json={"community_code": community, "year": YEAR, "statement": "申报示范社区"},
    )
    assert r.status_code == 201, r.text
    application = r.json()
    assert (
        application["status"] == "submitted" and application["score"]["community_code"] == community
    )
    again = await api.community.post(
        "/api/v1/assessment/applications",
        json={"community_code": community, "year": YEAR, "statement": "再次申报"},
    )
    assert_problem(again, 409, "application.open_exists")
    # a street admin cannot approve at district level
    assert_problem(
        await api.street.post(
            f"/api/v1/assessment/applications/{application['id']}/transitions",
            json={"action": "approve"},
        ),
        409,
    )
    r = await api.street.post(
        f"/api/v1/assessment/applications/{application['id']}/transitions",
        json={"action": "recommend", "note": "同意推荐"},
    )
    assert r.json()["status"] == "recommended"
    assert_problem(
        await api.street.post(
            f"/api/v1/assessment/applications/{application['id']}/transitions",
            json={"action": "approve"},
        ),
        403,
        "application.wrong_level",
    )
    district_admin = api.district  # demo-district, a district_admin of 410105
    r = await district_admin.post(
        f"/api/v1/assessment/applications/{application['id']}/transitions",
        json={"action": "approve", "note": "批准"},
    )
    assert r.json()["status"] == "approved"
    assert [h["action"] for h in r.json()["history"]] == ["submit", "recommend", "approve"]
    assert_problem(
        await api.community.post(
            f"/api/v1/assessment/applications/{application['id']}/transitions",
            json={"action": "recommend"},
        ),
        409,
    )
    # Approved for the year: applying again for it is a 409, not a second application.
    again = await api.community.post(
        "/api/v1/assessment/applications",
        json={"community_code": community, "year": YEAR, "statement": "再次申报"},
    )
    body = assert_problem(again, 409, "application.approved_exists")
    assert body["application_id"] == application["id"]


async def test_a_community_has_the_same_volunteer_rate_at_district_and_street_level(
    api, new_community
):
    """The district asked the volunteer service for its streets' rates and looked for its
    communities among them: every community failed the 10% indicator at district level
    while passing it at street level. A community in each of the district's two streets,
    one passing and one failing, reads the same asked from the district or its street."""
    passing = await community_with(api, new_community, 40, 4, street=STREET_A)
    failing = await community_with(api, new_community, 20, 1, street=STREET_B)

    async def volunteer_rates(area: str) -> dict[str, tuple]:
        scores = await api.admin.get(
            "/api/v1/assessment/scores",
            params={"area": area, "period": str(YEAR), "live": "true"},
        )
        assert scores.status_code == 200, scores.text
        out = {}
        for row in scores.json()["communities"]:
            rate = next(i for i in row["indicators"] if i["code"] == "volunteer_rate")
            out[row["community_code"]] = (
                rate["value"],
                rate["numerator"],
                rate["denominator"],
                rate["passed"],
            )
        return out

    district = await volunteer_rates(DISTRICT)
    street_a = await volunteer_rates(STREET_A)
    street_b = await volunteer_rates(STREET_B)
    assert district[passing] == street_a[passing] == (0.1, 4, 40, True)
    assert district[failing] == street_b[failing] == (0.05, 1, 20, False)
    assert passing not in street_b and failing not in street_a
    # Every community of the two streets, not only these two, reads the same from the district.
    by_street = street_a | street_b
    assert {code: district.get(code) for code in by_street} == by_street


async def test_scores_are_a_503_when_a_service_is_down_not_a_failed_indicator(
    api, app, new_community
):
    community = await community_with(api, new_community, 10, 1)
    peers = next(a for a in app.state.embedded_apps if a.state.component == "assessment")
    peers = peers.state.peers

    # The volunteer service is where nothing listens, as a stopped process in the split mode.
    real = peers.apps.pop("volunteer")
    peers.urls["volunteer"] = "http://127.0.0.1:9"
    peers._clients.pop("volunteer", None)
    try:
        r = await api.admin.get(
            "/api/v1/assessment/scores",
            params={"area": community, "period": str(YEAR), "live": "true"},
        )
    finally:
        peers.apps["volunteer"] = real
        peers.urls.pop("volunteer")
        await peers._clients.pop("volunteer").aclose()
    body = assert_problem(r, 503, "upstream.unavailable")
    assert "volunteer" in body["detail"]


async def test_a_name_that_looks_like_a_formula_is_text_in_the_export(api, new_community):
    """A community named =HYPERLINK(...) must come out of scores.xlsx as that text, not as
    a live link an official's Excel would follow."""
    import io

    from openpyxl import load_workbook

    community = await new_community(name='=HYPERLINK("http://evil.example","点此")')
    r = await api.admin.get(
        "/api/v1/assessment/scores.xlsx", params={"area": community, "period": str(YEAR)}
    )
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    cells = [c for row in sheet.iter_rows() for c in row if str(c.value).startswith("=HYPER")]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)


async def test_applications_of_a_year_out_of_any_calendar_are_a_422_naming_year(api):
    """Found by schemathesis: ``?year=33645113632516395237376`` overflowed the database's
    integer (a 500). The filter takes the years an application may have."""
    for year in ("33645113632516395237376", "-1", "1999", "2101"):
        r = await api.admin.get("/api/v1/assessment/applications", params={"year": year})
        problem = assert_problem(r, 422)
        assert [e["field"] for e in problem["errors"]] == ["year"], (year, problem)
    r = await api.admin.get("/api/v1/assessment/applications", params={"year": clock.today().year})
    assert r.status_code == 200, r.text
