"""Who sees what in the volunteer service: a published activity is public, so a resident
finds and joins activities anywhere; teams, sign-up lists, volunteers and hours stay inside
the caller's scope, and a cancelled activity is for its own street."""

from __future__ import annotations

from services.common.geo import from_wgs84
from tests.factories import STREET_B, activity, volunteer
from tests.support import assert_problem


async def test_a_street_admin_sees_nothing_of_another_streets_volunteers(api, new_community):
    elsewhere = await new_community(STREET_B, "花园路另一社区")
    caller, person = await volunteer(api, elsewhere)
    team = await api.admin.post(
        "/api/v1/volunteer/teams",
        json={"community_code": elsewhere, "name": "花园路服务队", "kind": "general"},
    )
    assert team.status_code == 201, team.text
    event = await activity(api, elsewhere)
    assert (
        await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
    ).status_code == 201

    street = api.street  # 经八路街道: street A
    teams = (await street.get("/api/v1/volunteer/teams", params={"limit": 100})).json()
    assert team.json()["id"] not in [t["id"] for t in teams["items"]]
    assert_problem(
        await street.put(
            f"/api/v1/volunteer/teams/{team.json()['id']}/members", json={"volunteer_ids": []}
        ),
        404,
    )
    listed = await street.get("/api/v1/volunteer/volunteers", params={"limit": 100})
    assert person["id"] not in [v["id"] for v in listed.json()["items"]]
    assert_problem(await street.get(f"/api/v1/volunteer/volunteers/{person['id']}/hours"), 404)
    assert_problem(await street.get(f"/api/v1/volunteer/activities/{event['id']}/signups"), 404)
    assert_problem(
        await street.get(f"/api/v1/volunteer/activities/{event['id']}/checkin-token"), 404
    )
    assert_problem(await street.post(f"/api/v1/volunteer/activities/{event['id']}/cancel"), 404)

    # the published activity itself is public: anyone signed in finds and reads it
    assert (await street.get(f"/api/v1/volunteer/activities/{event['id']}")).status_code == 200
    stranger = await api.resident()
    found = await stranger.get(
        "/api/v1/volunteer/activities", params={"community": elsewhere, "limit": 100}
    )
    assert event["id"] in [a["id"] for a in found.json()["items"]]


async def test_a_cancelled_activity_is_for_its_street_and_those_who_signed_up(api, new_community):
    elsewhere = await new_community(STREET_B, "花园路取消社区")
    caller, _ = await volunteer(api, elsewhere)
    event = await activity(api, elsewhere)
    await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
    assert (
        await api.admin.post(f"/api/v1/volunteer/activities/{event['id']}/cancel")
    ).status_code == 200
    assert_problem(await api.street.get(f"/api/v1/volunteer/activities/{event['id']}"), 404)
    stranger = await api.resident()
    assert_problem(await stranger.get(f"/api/v1/volunteer/activities/{event['id']}"), 404)
    mine = await caller.get(f"/api/v1/volunteer/activities/{event['id']}")
    assert mine.status_code == 200 and mine.json()["status"] == "cancelled"


async def test_a_resident_sees_the_teams_of_their_own_community_only(api, new_community):
    home = await new_community()
    other = await new_community()
    caller, _ = await volunteer(api, home)
    for community in (home, other):
        r = await api.admin.post(
            "/api/v1/volunteer/teams",
            json={"community_code": community, "name": "服务队", "kind": "general"},
        )
        assert r.status_code == 201, r.text
    seen = (await caller.get("/api/v1/volunteer/teams", params={"limit": 100})).json()["items"]
    assert {t["community_code"] for t in seen} == {home}


async def test_an_activity_is_answered_in_gcj02_when_asked(api, new_community):
    community = await new_community()
    event = await activity(api, community)
    wgs = (event["lat"], event["lng"])
    assert event["coord_system"] == "wgs84"
    read = await api.admin.get(
        f"/api/v1/volunteer/activities/{event['id']}", params={"coord_system": "gcj02"}
    )
    body = read.json()
    assert body["coord_system"] == "gcj02"
    assert (body["lat"], body["lng"]) == from_wgs84(*wgs, "gcj02")
    assert abs(body["lng"] - wgs[1]) > 0.002  # ~600 m on a Tencent or AMap map
    listed = await api.admin.get(
        "/api/v1/volunteer/activities",
        params={"community": community, "coord_system": "gcj02"},
    )
    [item] = [a for a in listed.json()["items"] if a["id"] == event["id"]]
    assert (item["lat"], item["lng"]) == (body["lat"], body["lng"])
    plain = await api.admin.get(f"/api/v1/volunteer/activities/{event['id']}")
    assert (plain.json()["lat"], plain.json()["lng"]) == wgs
