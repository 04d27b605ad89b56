"""A resident on WeChat looks for something to do near where they stand: activities found by
distance, nearest first, from a point the phone gives in GCJ-02."""

from __future__ import annotations

from services.common.geo import from_wgs84
from tests.factories import activity
from tests.support import assert_problem


async def test_a_resident_finds_the_activities_near_them_nearest_first(api, new_community, spot):
    lat, lng = spot
    resident = await api.resident()
    community = await new_community()
    # ~110 m, ~440 m and ~2.2 km north of where the resident stands; one cancelled nearby.
    near = await activity(api, community, title="楼道清扫", lat=lat + 0.001, lng=lng)
    middle = await activity(api, community, title="义诊", lat=lat + 0.004, lng=lng)
    far = await activity(api, community, title="植树", lat=lat + 0.02, lng=lng)
    gone = await activity(api, community, title="取消的", lat=lat + 0.0005, lng=lng)
    assert (await api.admin.post(f"/api/v1/volunteer/activities/{gone['id']}/cancel")).is_success
    phone_lat, phone_lng = from_wgs84(lat, lng, "gcj02")  # wx.getLocation({type: 'gcj02'})

    async def nearby(**query) -> list[dict]:
        items, cursor = [], None
        while True:
            params = {"lat": phone_lat, "lng": phone_lng, "coord_system": "gcj02", **query}
            if cursor:
                params["cursor"] = cursor
            r = await resident.get("/api/v1/volunteer/activities", params=params)
            assert r.status_code == 200, r.text
            items += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return items

    found = await nearby(radius=1000)
    assert [a["id"] for a in found] == [near["id"], middle["id"]]
    assert 100 < found[0]["distance_m"] < 125 and 420 < found[1]["distance_m"] < 470
    # The answer speaks the phone's system: the activity's point comes back in GCJ-02.
    assert (found[0]["lat"], found[0]["lng"]) == from_wgs84(lat + 0.001, lng, "gcj02")
    # Page by page, the order holds.
    paged = await nearby(radius=5000, limit=1)
    assert [a["id"] for a in paged] == [near["id"], middle["id"], far["id"]]

    r = await resident.get("/api/v1/volunteer/activities", params={"lat": lat})
    assert assert_problem(r, 422)["errors"][0]["field"] == "lng"
    r = await resident.get(
        "/api/v1/volunteer/activities", params={"lat": lat, "lng": lng, "radius": 10**7}
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "radius"
