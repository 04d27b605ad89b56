"""Who sees what in the assessment service: a street official sees the co-building and the
scores of their own street only, and a unit's contact sees their own unit's agreements."""

from __future__ import annotations

from tests.factories import STREET_B, YEAR, agreement_body, unit_with_contact
from tests.support import assert_problem


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
