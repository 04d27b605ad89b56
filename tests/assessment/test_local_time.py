"""Co-building days are Beijing days: at 07:30 in Beijing, while the UTC date is still
yesterday, an agreement that ended yesterday has expired and one that starts today is in
force."""

from __future__ import annotations

from datetime import timedelta

from services.common.clock import clock
from tests.factories import agreement_body, unit_with_contact


async def signed(api, contact, body: dict) -> dict:
    r = await api.street.post("/api/v1/assessment/agreements", json=body)
    assert r.status_code == 201, r.text
    agreement = r.json()
    for party, caller in (("unit", contact), ("community", api.street)):
        r = await caller.post(
            f"/api/v1/assessment/agreements/{agreement['id']}/sign", json={"party": party}
        )
        assert r.status_code == 200, r.text
    return agreement


async def test_at_a_beijing_morning_yesterdays_agreement_has_expired_and_todays_holds(
    api, new_community
):
    today = clock.today()
    assert clock.now().date() == today - timedelta(days=1)  # the stories' Beijing morning
    community = await new_community()
    ended, ended_contact = await unit_with_contact(api, community)
    starting, starting_contact = await unit_with_contact(api, community)
    old = await signed(
        api,
        ended_contact,
        agreement_body(
            ended["id"],
            community,
            term_start=str(today - timedelta(days=90)),
            term_end=str(today - timedelta(days=1)),
        ),
    )
    new = await signed(
        api,
        starting_contact,
        agreement_body(
            starting["id"],
            community,
            term_start=str(today),
            term_end=str(today + timedelta(days=365)),
        ),
    )

    read = {
        a["id"]: a["status"]
        for a in (
            await api.street.get("/api/v1/assessment/agreements", params={"community": community})
        ).json()["items"]
    }
    assert read == {old["id"]: "expired", new["id"]: "active"}
    resident = await api.resident()
    facilities = (
        await resident.get("/api/v1/assessment/facilities", params={"community": community})
    ).json()["items"]
    assert [f["agreement_id"] for f in facilities] == [new["id"]]
