"""在职党员报到, the community's side: who reported, from which unit, when, and how many hours
they served here; a report by someone the registry does not know is marked unverified."""

from __future__ import annotations

import asyncio

from services.common.clock import clock, to_local
from tests.factories import (
    STREET_B,
    resident_in_registry,
    staff_account,
    unit,
    unit_with_contact,
    volunteer,
)
from tests.support import assert_problem


async def _employer(api, community: str) -> dict:
    r = await api.admin.post("/api/v1/registry/units", json=unit(community, name="郑州供电公司"))
    assert r.status_code == 201, r.text
    return r.json()


async def _hours(api, volunteer_id: str, hours: str) -> None:
    """A back-entry by one worker, approved by another (the ledger's rules)."""
    r = await api.street.post(
        "/api/v1/volunteer/hours/adjustments",
        json={
            "volunteer_id": volunteer_id,
            "hours": hours,
            "service_date": str(clock.today()),
            "reason": "社区报到服务",
            "kind": "back_entry",
        },
    )
    assert r.status_code == 201, r.text
    approved = await api.admin.post(f"/api/v1/volunteer/hours/adjustments/{r.json()['id']}/approve")
    assert approved.status_code == 200, approved.text


async def test_the_community_sees_who_reported_and_an_unmatched_one_is_unverified(
    api, new_community
):
    community = await new_community()
    employer = await _employer(api, community)
    matched, mv = await volunteer(
        api, community, in_service_party_member=True, employer_unit_id=employer["id"]
    )
    stranger, sv = await volunteer(
        api, community, matched=False, in_service_party_member=True, employer_unit_id=employer["id"]
    )
    r = await api.admin.post(f"/api/v1/volunteer/volunteers/{sv['id']}/approve")
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    silent, _ = await volunteer(api, community, in_service_party_member=True)  # never reports
    plain, _ = await volunteer(api, community)
    for caller in (matched, stranger):
        r = await caller.post("/api/v1/volunteer/volunteers/me/party-report")
        assert r.status_code == 200, r.text
    await _hours(api, mv["id"], "3.5")

    r = await api.street.get("/api/v1/volunteer/party-reports", params={"community": community})
    assert r.status_code == 200, r.text
    rows = {row["volunteer_id"]: row for row in r.json()["items"]}
    assert set(rows) == {mv["id"], sv["id"]}, rows
    today = to_local(clock.now()).date().isoformat()
    assert rows[mv["id"]] == {
        "volunteer_id": mv["id"],
        "number": mv["number"],
        "name": "志愿者",
        "phone": "137****1234",
        "community_code": community,
        "employer_unit_id": employer["id"],
        "employer_unit_name": "郑州供电公司",
        "reported_on": today,
        "hours": "3.50",
        "verified": True,
    }, rows[mv["id"]]
    assert (rows[sv["id"]]["verified"], rows[sv["id"]]["hours"]) == (False, "0.00")
    assert rows[sv["id"]]["employer_unit_name"] == "郑州供电公司"
    assert not any("id_number" in key for row in rows.values() for key in row)

    # Cursor pages, as every list.
    first = (
        await api.street.get(
            "/api/v1/volunteer/party-reports", params={"community": community, "limit": 1}
        )
    ).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = (
        await api.street.get(
            "/api/v1/volunteer/party-reports",
            params={"community": community, "cursor": first["next_cursor"]},
        )
    ).json()
    assert {i["volunteer_id"] for i in first["items"] + rest["items"]} == set(rows)


async def test_another_streets_reports_are_not_seen(api, new_community):
    elsewhere = await new_community(STREET_B)
    caller, v = await volunteer(
        api, elsewhere, in_service_party_member=True, employer_unit_id="unit-not-in-registry"
    )
    assert (await caller.post("/api/v1/volunteer/volunteers/me/party-report")).status_code == 200
    mine = await api.street.get("/api/v1/volunteer/party-reports", params={"community": elsewhere})
    assert mine.status_code == 200 and mine.json()["items"] == [], mine.text
    everyone = await api.admin.get(
        "/api/v1/volunteer/party-reports", params={"community": elsewhere}
    )
    assert [row["volunteer_id"] for row in everyone.json()["items"]] == [v["id"]]
    # Someone else's employer that the registry does not know: no name, not a failure.
    assert everyone.json()["items"][0]["employer_unit_name"] is None
    assert_problem(await caller.get("/api/v1/volunteer/party-reports"), 403)


async def test_a_units_contact_sees_its_own_members_reports_and_no_other_volunteer(
    api, new_community
):
    """A unit's contact is not the community's staff: of the volunteers they see only their
    own unit's in-service party members who reported, and no one's record or hours."""
    community = await new_community()
    the_unit, contact = await unit_with_contact(api, community)
    other = await _employer(api, community)
    ours, mine = await volunteer(
        api, community, in_service_party_member=True, employer_unit_id=the_unit["id"]
    )
    theirs, yours = await volunteer(
        api, community, in_service_party_member=True, employer_unit_id=other["id"]
    )
    for caller in (ours, theirs):
        assert (await caller.post("/api/v1/volunteer/volunteers/me/party-report")).is_success
    plain, someone = await volunteer(api, community)

    r = await contact.get("/api/v1/volunteer/party-reports", params={"community": community})
    assert r.status_code == 200, r.text
    assert [row["volunteer_id"] for row in r.json()["items"]] == [mine["id"]]
    assert_problem(await contact.get("/api/v1/volunteer/volunteers"), 403)
    for record in (mine, yours, someone):
        assert_problem(await contact.get(f"/api/v1/volunteer/volunteers/{record['id']}"), 404)
        assert_problem(await contact.get(f"/api/v1/volunteer/volunteers/{record['id']}/hours"), 404)


def _party_teams(answer) -> list[dict]:
    assert answer.status_code == 200, answer.text
    return [t for t in answer.json()["items"] if t["kind"] == "party_member"]


async def test_the_community_has_its_party_team_before_the_first_member_registers(
    api, new_community
):
    """A community worker opens the teams page of a new community: the 党员志愿服务队 is
    there already, invitation-only and empty. Many first looks at once (the worker on two
    phones, the street) make one team, which the first in-service party member then joins."""
    community = await new_community()
    worker = await staff_account(api, "community_admin", community, "张社工")
    answers = await asyncio.gather(
        *(worker.get("/api/v1/volunteer/teams") for _ in range(4)),
        *(worker.get("/api/v1/volunteer/teams", params={"community": community}) for _ in range(4)),
        *(
            api.street.get("/api/v1/volunteer/teams", params={"community": community})
            for _ in range(4)
        ),
    )
    seen = [_party_teams(r) for r in answers]
    assert all(len(teams) == 1 for teams in seen), [r.text for r in answers]
    [team] = seen[0]
    assert {t[0]["id"] for t in seen} == {team["id"]}
    assert (team["name"], team["joining"], team["members"]) == ("党员志愿服务队", "invited", 0)
    assert team["community_code"] == community
    # Made once: its history has one entry, under the name of whoever looked first.
    r = await worker.get(f"/api/v1/volunteer/teams/{team['id']}/history")
    assert r.status_code == 200, r.text
    [created] = r.json()["items"]
    assert created["action"] == "created" and created["actor_name"]

    # A second one is refused: the community has its party-member team.
    r = await worker.post(
        "/api/v1/volunteer/teams",
        json={"community_code": community, "name": "党员先锋队", "kind": "party_member"},
    )
    assert_problem(r, 409, "team.party_team_exists")

    caller, _ = await volunteer(api, community, in_service_party_member=True, name="党员甲")
    [again] = _party_teams(await worker.get("/api/v1/volunteer/teams"))
    assert (again["id"], again["members"]) == (team["id"], 1)
    mine = (await caller.get("/api/v1/volunteer/volunteers/me")).json()
    assert [t["id"] for t in mine["teams"]] == [team["id"]]


async def test_first_party_members_registering_at_once_share_one_team(api, new_community):
    """Six in-service party members of a community nobody has looked at register while its
    worker opens the teams page: one party-member team, all six in it."""
    community = await new_community()
    worker = await staff_account(api, "community_admin", community, "张社工")
    people = []
    for i in range(6):
        number = await resident_in_registry(api, community, f"党员{i}")
        caller = await api.resident()
        body = {
            "name": f"党员{i}",
            "id_number": number,
            "phone": "13700001234",
            "community_code": community,
            "in_service_party_member": True,
        }
        people.append((caller, body))
    registering = [
        caller.post("/api/v1/volunteer/volunteers", json=body) for caller, body in people
    ]
    looking = [worker.get("/api/v1/volunteer/teams") for _ in range(4)]
    answers = await asyncio.gather(*registering[:3], *looking[:3], *registering[3:], looking[3])
    registered, looks = answers[:3] + answers[6:9], answers[3:6] + answers[9:]
    assert all(r.status_code == 201 for r in registered), [r.text for r in registered]
    assert all(len(_party_teams(r)) == 1 for r in looks), [r.text for r in looks]
    [team] = _party_teams(
        await api.admin.get("/api/v1/volunteer/teams", params={"community": community})
    )
    assert team["members"] == 6
    for caller, _ in people:
        mine = (await caller.get("/api/v1/volunteer/volunteers/me")).json()
        assert [t["id"] for t in mine["teams"]] == [team["id"]]


async def test_no_party_team_is_made_for_a_code_that_is_not_a_community(api):
    """A typo in the community filter finds nothing and makes nothing."""
    code = "410105001987"
    assert_problem(await api.admin.get(f"/api/v1/registry/areas/{code}"), 404)
    for _ in range(2):
        answer = await api.street.get("/api/v1/volunteer/teams", params={"community": code})
        assert _party_teams(answer) == []
    street = await api.street.get("/api/v1/volunteer/teams", params={"community": "410105001000"})
    assert street.status_code == 200, street.text
