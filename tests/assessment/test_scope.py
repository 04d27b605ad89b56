"""Who sees what in the assessment service: a street official sees the co-building and the
scores of their own street only, and a unit's contact sees their own unit's agreements."""

from __future__ import annotations

from tests.factories import STREET_B, YEAR, agreement_body, unit_with_contact
from tests.support import assert_problem, unique


async def test_a_street_admin_sees_nothing_of_another_streets_co_building(api, new_community):
    elsewhere = await new_community(STREET_B, "花园路共建社区")
    unit, contact = await unit_with_contact(api, elsewhere)
    agreement = await api.admin.post(
        "/api/v1/assessment/agreements", json=agreement_body(unit["id"], elsewhere)
    )
    assert agreement.status_code == 201, agreement.text
    agreement = agreement.json()
    for party in ("unit", "community"):
        caller = contact if party == "unit" else api.admin
        r = await caller.post(
            f"/api/v1/assessment/agreements/{agreement['id']}/sign", json={"party": party}
        )
        assert r.status_code == 200, r.text
    record = await contact.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/records",
        json={
            "pledge_id": agreement["pledges"][0]["id"],
            "day": f"{YEAR}-01-15",
            "quantity": 1,
            "participants": 5,
            "description": "便民服务",
        },
    )
    assert record.status_code == 201, record.text
    meeting = await api.admin.post(
        "/api/v1/assessment/meetings",
        json={"community_code": elsewhere, "day": f"{YEAR}-01-20", "minutes": "议定共建事项"},
    )
    assert meeting.status_code == 201, meeting.text
    published = await api.admin.post(
        "/api/v1/assessment/scores/publish", json={"area": elsewhere, "period": f"{YEAR}Q1"}
    )
    assert published.status_code == 201, published.text

    street = api.street  # 经八路街道: street A
    assert_problem(await street.get(f"/api/v1/assessment/agreements/{agreement['id']}"), 404)
    assert_problem(
        await street.get(f"/api/v1/assessment/agreements/{agreement['id']}/records"), 404
    )
    assert_problem(
        await street.post(
            f"/api/v1/assessment/records/{record.json()['id']}/confirm", json={"note": "好"}
        ),
        404,
    )
    lists = {
        "/api/v1/assessment/agreements": agreement["id"],
        "/api/v1/assessment/meetings": meeting.json()["id"],
    }
    for path, hidden in lists.items():
        items = (await street.get(path, params={"limit": 100})).json()["items"]
        assert hidden not in [i["id"] for i in items], path
    assert_problem(
        await street.get(
            "/api/v1/assessment/scores", params={"area": elsewhere, "period": f"{YEAR}Q1"}
        ),
        404,
    )
    assert_problem(
        await street.get(
            "/api/v1/assessment/unit-scores", params={"area": elsewhere, "period": str(YEAR)}
        ),
        404,
    )


async def test_a_unit_contact_sees_only_their_own_units_agreements(api, new_community):
    community = await new_community()
    mine, contact = await unit_with_contact(api, community)
    theirs, _ = await unit_with_contact(api, community)
    ours = await api.admin.post(
        "/api/v1/assessment/agreements", json=agreement_body(mine["id"], community)
    )
    other = await api.admin.post(
        "/api/v1/assessment/agreements", json=agreement_body(theirs["id"], community)
    )
    listed = (await contact.get("/api/v1/assessment/agreements", params={"limit": 100})).json()
    ids = [a["id"] for a in listed["items"]]
    assert ours.json()["id"] in ids and other.json()["id"] not in ids
    assert_problem(await contact.get(f"/api/v1/assessment/agreements/{other.json()['id']}"), 404)
    assert_problem(
        await contact.post(
            f"/api/v1/assessment/agreements/{other.json()['id']}/sign", json={"party": "unit"}
        ),
        404,
    )


async def signed_agreement(api, community: str, unit: dict, contact) -> dict:
    """An agreement between the unit and the community, signed by both sides."""
    r = await api.admin.post(
        "/api/v1/assessment/agreements", json=agreement_body(unit["id"], community)
    )
    assert r.status_code == 201, r.text
    agreement = r.json()
    for party, caller in (("unit", contact), ("community", api.admin)):
        r = await caller.post(
            f"/api/v1/assessment/agreements/{agreement['id']}/sign", json={"party": party}
        )
        assert r.status_code == 200, r.text
    return r.json()


async def community_admin_of(api, community: str):
    username = unique("ca")
    r = await api.admin.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": "community-1",
            "role": "community_admin",
            "scope": [community],
        },
    )
    assert r.status_code == 201, r.text
    return await api.login(username, "community-1")


async def test_a_street_admin_finds_no_application_or_snapshot_of_another_street(
    api, new_community
):
    elsewhere = await new_community(STREET_B, "花园路示范社区")
    theirs = await community_admin_of(api, elsewhere)
    application = await theirs.post(
        "/api/v1/assessment/applications",
        json={"community_code": elsewhere, "year": YEAR, "statement": "申报示范社区"},
    )
    assert application.status_code == 201, application.text
    application = application.json()
    r = await api.admin.post(
        "/api/v1/assessment/meetings",
        json={"community_code": elsewhere, "day": f"{YEAR}-01-20", "minutes": "季度协调会"},
    )
    assert r.status_code == 201, r.text
    published = await api.admin.post(
        "/api/v1/assessment/scores/publish", json={"area": elsewhere, "period": str(YEAR)}
    )
    assert published.status_code == 201, published.text

    street = api.street  # 经八路街道: street A
    assert_problem(await street.get(f"/api/v1/assessment/applications/{application['id']}"), 404)
    assert_problem(
        await street.post(
            f"/api/v1/assessment/applications/{application['id']}/transitions",
            json={"action": "recommend"},
        ),
        404,
    )
    for params in ({"limit": 100}, {"limit": 100, "year": YEAR}):
        items = (await street.get("/api/v1/assessment/applications", params=params)).json()
        assert application["id"] not in [a["id"] for a in items["items"]], params
    # asking for the other street's community by name finds nothing, rather than its rows
    for path in ("/api/v1/assessment/agreements", "/api/v1/assessment/meetings"):
        r = await street.get(path, params={"community": elsewhere})
        assert r.status_code == 200 and r.json()["items"] == [], path
    # the published snapshot is neither read, exported nor republished from street A
    period = {"area": elsewhere, "period": str(YEAR)}
    assert_problem(await street.get("/api/v1/assessment/scores", params=period), 404)
    assert_problem(await street.get("/api/v1/assessment/scores.xlsx", params=period), 404)
    assert_problem(await street.post("/api/v1/assessment/scores/publish", json=period), 404)
    # the street's own community admin reads it
    assert (await theirs.get(f"/api/v1/assessment/applications/{application['id']}")).json()[
        "id"
    ] == application["id"]


async def test_a_unit_contact_finds_no_records_of_another_unit(api, new_community):
    community = await new_community()
    mine, contact = await unit_with_contact(api, community)
    theirs, their_contact = await unit_with_contact(api, community)
    await signed_agreement(api, community, mine, contact)
    other = await signed_agreement(api, community, theirs, their_contact)
    record = await their_contact.post(
        f"/api/v1/assessment/agreements/{other['id']}/records",
        json={
            "pledge_id": other["pledges"][0]["id"],
            "day": f"{YEAR}-01-15",
            "quantity": 1,
            "description": "义诊",
        },
    )
    assert record.status_code == 201, record.text

    assert_problem(await contact.get(f"/api/v1/assessment/agreements/{other['id']}/records"), 404)
    assert_problem(
        await contact.post(
            f"/api/v1/assessment/agreements/{other['id']}/records",
            json={
                "pledge_id": other["pledges"][0]["id"],
                "day": f"{YEAR}-01-16",
                "quantity": 1,
                "description": "冒名记录",
            },
        ),
        404,
    )
    assert_problem(
        await contact.post(
            f"/api/v1/assessment/agreements/{other['id']}/terminate", json={"reason": "不再合作"}
        ),
        404,
    )
    assert_problem(
        await contact.post(
            f"/api/v1/assessment/agreements/{other['id']}/amend",
            json=agreement_body(theirs["id"], community),
        ),
        404,
    )
    # confirming is never a unit's to do: the role answers, whichever record is named
    assert_problem(
        await contact.post(f"/api/v1/assessment/records/{record.json()['id']}/confirm", json={}),
        403,
    )
    by_unit = await contact.get("/api/v1/assessment/agreements", params={"unit_id": theirs["id"]})
    assert by_unit.status_code == 200 and by_unit.json()["items"] == []


async def test_a_unit_contact_reads_their_own_units_score_and_no_other_units(api, new_community):
    """The ranking of resident units is the community's; a unit's contact reads their own
    unit's row and place in it, not the names and fulfilment of the other units."""
    community = await new_community()
    mine, contact = await unit_with_contact(api, community)
    theirs, their_contact = await unit_with_contact(api, community)
    await signed_agreement(api, community, mine, contact)
    await signed_agreement(api, community, theirs, their_contact)
    params = {"area": community, "period": str(YEAR)}

    everyone = (await api.street.get("/api/v1/assessment/unit-scores", params=params)).json()
    assert {u["unit_id"] for u in everyone["units"]} == {mine["id"], theirs["id"]}

    r = await contact.get("/api/v1/assessment/unit-scores", params=params)
    assert r.status_code == 200, r.text
    units = r.json()["units"]
    assert [u["unit_id"] for u in units] == [mine["id"]]
    ranked = next(u for u in everyone["units"] if u["unit_id"] == mine["id"])
    assert units[0] == ranked
