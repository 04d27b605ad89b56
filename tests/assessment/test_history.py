"""What changed in co-building: who drafted and signed an agreement, who confirmed a record,
who moved an application up a level — by name, in Beijing time; the history of a record
outside the caller's scope is a 404."""

from __future__ import annotations

from services.common.clock import clock
from tests.factories import STREET_B, YEAR, active_agreement, staff_account
from tests.support import assert_problem, changes_of


async def test_agreements_records_and_applications_keep_who_changed_them(api, new_community):
    community = await new_community()
    worker = await staff_account(api, "community_admin", community, "刘社区")
    unit, contact, agreement = await active_agreement(api, community, by=worker)
    assert agreement["status"] == "active"

    r = await contact.get(f"/api/v1/assessment/agreements/{agreement['id']}/history")
    assert r.status_code == 200, r.text
    community_signed, unit_signed, drafted = r.json()["items"]
    assert (drafted["action"], drafted["actor_name"]) == ("created", "刘社区")
    assert unit_signed["action"] == "signed" and unit_signed["actor_id"] != drafted["actor_id"]
    assert (community_signed["action"], community_signed["actor_name"]) == ("signed", "刘社区")
    changes = {c["field"]: (c["old"], c["new"]) for c in community_signed["changes"]}
    assert changes["status"] == ("draft", "active")
    assert community_signed["at"].endswith("+08:00")

    r = await contact.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/records",
        json={
            "pledge_id": agreement["pledges"][0]["id"],
            "day": str(clock.today()),
            "quantity": 1,
            "description": "义诊",
        },
    )
    assert r.status_code == 201, r.text
    record = r.json()["id"]
    r = await worker.post(f"/api/v1/assessment/records/{record}/confirm", json={"note": "属实"})
    assert r.status_code == 200, r.text
    r = await contact.get(f"/api/v1/assessment/records/{record}/history")
    assert r.status_code == 200, r.text
    confirmed, submitted = r.json()["items"]
    assert (confirmed["action"], confirmed["actor_name"]) == ("confirmed", "刘社区")
    assert {c["field"]: c["new"] for c in confirmed["changes"]}["review_note"] == "属实"
    assert submitted["action"] == "created"

    r = await worker.post(
        "/api/v1/assessment/applications",
        json={"community_code": community, "year": YEAR, "statement": "申报示范社区"},
    )
    assert r.status_code == 201, r.text
    application = r.json()["id"]
    r = await api.street.post(
        f"/api/v1/assessment/applications/{application}/transitions",
        json={"action": "recommend", "note": "同意推荐"},
    )
    assert r.status_code == 200, r.text
    steps = r.json()["history"]
    assert [(s["action"], s["actor_name"]) for s in steps] == [
        ("submit", "刘社区"),
        ("recommend", "经八路街道办"),
    ]
    r = await worker.get(f"/api/v1/assessment/applications/{application}/history")
    recommended, sent = r.json()["items"]
    assert (recommended["action"], recommended["actor_name"]) == ("recommend", "经八路街道办")
    assert changes_of(recommended) == [
        {"field": "status", "old": "submitted", "new": "recommended"}
    ]
    [status] = recommended["changes"]
    assert recommended["action_name"] == "街道推荐"
    assert (status["old_name"], status["new_name"]) == ("待街道推荐", "待区级审批")
    assert (sent["action"], sent["actor_name"]) == ("submitted", "刘社区")

    other = await staff_account(api, "street_admin", STREET_B[:9], "花园路街道办")
    for path in (
        f"agreements/{agreement['id']}",
        f"records/{record}",
        f"applications/{application}",
    ):
        assert_problem(await other.get(f"/api/v1/assessment/{path}/history"), 404)
