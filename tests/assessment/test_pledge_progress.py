"""Resident units 驻区单位: each agreement shows how far each pledge has come in its period,
unit scores say which pledge is which, and residents find the shared facilities around them
by distance, without knowing a community code."""

from __future__ import annotations

from services.common.clock import clock
from services.common.geo import from_wgs84
from tests.factories import YEAR, active_agreement, agreement_body, unit_with_contact
from tests.support import assert_problem

TODAY = clock.today()
QUARTER = f"{TODAY.year}Q{(TODAY.month - 1) // 3 + 1}"


async def record(contact, agreement: dict, pledge_id: str, quantity: float = 1) -> dict:
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
    return r.json()


async def test_each_pledge_shows_its_progress_in_its_period(api, new_community):
    community = await new_community()
    unit, contact, agreement = await active_agreement(api, community)
    services, facility = agreement["pledges"]
    confirmed = await record(contact, agreement, services["id"])
    await record(contact, agreement, services["id"])  # submitted, not yet confirmed
    disputed = await record(contact, agreement, facility["id"], 4)
    await api.street.post(f"/api/v1/assessment/records/{confirmed['id']}/confirm", json={})
    await api.street.post(f"/api/v1/assessment/records/{disputed['id']}/dispute", json={})

    read = (await contact.get(f"/api/v1/assessment/agreements/{agreement['id']}")).json()
    progress = {p["id"]: p["progress"] for p in read["pledges"]}
    quarter_name = f"{TODAY.year}年第{'一二三四'[int(QUARTER[-1]) - 1]}季度"
    assert progress[services["id"]] == {
        "period": QUARTER,
        "period_name": quarter_name,
        "done": 1.0,
        "target": 1.0,
        "unit_name": "次",
        "percent": 100.0,
    }
    assert progress[facility["id"]] == {
        "period": str(TODAY.year),
        "period_name": f"{TODAY.year}年",
        "done": 0.0,
        "target": 16.0 * 52,
        "unit_name": "小时",  # sixteen hours a week: the year's progress counts hours
        "percent": 0.0,
    }
    listed = (
        await api.street.get("/api/v1/assessment/agreements", params={"community": community})
    ).json()["items"]
    assert {p["id"]: p["progress"] for p in listed[0]["pledges"]} == progress

    scores = (
        await api.street.get(
            "/api/v1/assessment/unit-scores", params={"area": community, "period": str(YEAR)}
        )
    ).json()
    # The score is over the year asked, the progress over the pledge's own period: each says which.
    assert scores["period_name"] == f"{YEAR}年"
    row = next(u for u in scores["units"] if u["unit_id"] == unit["id"])
    by_pledge = {p["pledge_id"]: p for p in row["by_pledge"]}
    labelled = by_pledge[services["id"]]
    assert labelled["category"] == "services" and labelled["category_name"] == "服务联办"
    assert labelled["description"] == "每季度开展一次便民服务"
    assert labelled["target"] == "每季度 1 次"
    # a year asks four times of a quarterly pledge: one done is a quarter of it
    assert (labelled["required"], labelled["done"], labelled["percent"]) == (4.0, 1.0, 25.0)
    assert labelled["fulfilment"] == 0.25
    other = by_pledge[facility["id"]]
    assert (other["category_name"], other["target"], other["done"], other["percent"]) == (
        "设施联管",
        "每周 16 小时",
        0.0,
        0.0,
    )
    assert other["required"] == 16 * 52  # sixteen hours in each week of the year


def facility_pledge(name: str, lat: float, lng: float, **extra) -> dict:
    return {
        "category": "facilities",
        "description": f"向居民开放{name}",
        "target_quantity": 8,
        "target_unit": "opening_hours_per_week",
        "per": "year",
        "facility_name": name,
        "facility_capacity": 20,
        "facility_hours": "周六 9:00-17:00",
        "facility_address": f"黄河路{name}",
        "facility_lat": lat,
        "facility_lng": lng,
        **extra,
    }


async def signed(api, community: str, pledges: list[dict]) -> dict:
    unit, contact = await unit_with_contact(api, community)
    r = await api.street.post(
        "/api/v1/assessment/agreements",
        json=agreement_body(unit["id"], community, pledges=pledges),
    )
    assert r.status_code == 201, r.text
    agreement = r.json()
    await contact.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/sign", json={"party": "unit"}
    )
    r = await api.street.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/sign", json={"party": "community"}
    )
    assert r.json()["status"] == "active", r.text
    return agreement


# North of the patches the grid stories draw on (``spot``: taking one would move theirs), and
# no other story pledges a facility with a place.
FACILITY_CORNER = (34.95, 113.75)


async def test_a_resident_finds_the_nearest_facilities_without_a_community_code(api, new_community):
    lat, lng = FACILITY_CORNER
    here = (lat + 0.005, lng + 0.005)
    near_one, other_community = await new_community(), await new_community()
    # the nearest is given as a phone's map gives it, in GCJ-02
    gcj = from_wgs84(here[0] + 0.001, here[1], "gcj02")
    nearest = await signed(api, near_one, [facility_pledge("会议室", *gcj, coord_system="gcj02")])
    second = await signed(api, other_community, [facility_pledge("篮球场", here[0], lng + 0.009)])
    await signed(api, near_one, [facility_pledge("远处的礼堂", lat + 0.5, lng + 0.5)])
    stored = nearest["pledges"][0]
    assert stored["facility_address"] == "黄河路会议室"
    assert abs(stored["facility_lat"] - (here[0] + 0.001)) < 1e-6
    assert abs(stored["facility_lng"] - here[1]) < 1e-6

    resident = await api.resident()
    params = {"lat": here[0], "lng": here[1], "radius": 1000, "limit": 1}
    first = await resident.get("/api/v1/assessment/facilities", params=params)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [f["name"] for f in page["items"]] == ["会议室"]
    item = page["items"][0]
    assert 105 <= item["distance_m"] <= 118 and item["address"] == "黄河路会议室"
    assert item["community_code"] == near_one and item["unit_name"]
    assert page["next_cursor"]
    rest = (
        await resident.get(
            "/api/v1/assessment/facilities", params={**params, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [f["name"] for f in rest["items"]] == ["篮球场"]
    assert rest["items"][0]["agreement_id"] == second["id"]
    assert rest["items"][0]["distance_m"] > item["distance_m"]
    assert rest["next_cursor"] is None
    # read back in the phone's system, it is where it was put
    in_gcj = (
        await resident.get(
            "/api/v1/assessment/facilities",
            params={"lat": gcj[0], "lng": gcj[1], "radius": 50, "coord_system": "gcj02"},
        )
    ).json()["items"]
    assert [f["name"] for f in in_gcj] == ["会议室"]
    assert abs(in_gcj[0]["lat"] - gcj[0]) < 1e-6 and in_gcj[0]["distance_m"] <= 1
    # by community as before, and the place comes with it
    by_community = (
        await resident.get("/api/v1/assessment/facilities", params={"community": near_one})
    ).json()["items"]
    assert {f["name"] for f in by_community} == {"会议室", "远处的礼堂"}


async def test_a_facility_place_is_checked(api, new_community):
    community = await new_community()
    unit, _ = await unit_with_contact(api, community)
    half = facility_pledge("会议室", 34.75, 113.65)
    del half["facility_lng"]
    r = await api.street.post(
        "/api/v1/assessment/agreements",
        json=agreement_body(unit["id"], community, pledges=[half]),
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "pledges[0].facility_lng"
    swapped = facility_pledge("会议室", 113.65, 34.75)
    r = await api.street.post(
        "/api/v1/assessment/agreements",
        json=agreement_body(unit["id"], community, pledges=[swapped]),
    )
    assert_problem(r, 422)
    resident = await api.resident()
    r = await resident.get("/api/v1/assessment/facilities")
    assert_problem(r, 422)
    r = await resident.get("/api/v1/assessment/facilities", params={"lat": 34.75})
    assert assert_problem(r, 422)["errors"][0]["field"] == "lng"


async def test_a_community_confirms_a_record_without_saying_anything(api, new_community):
    community = await new_community()
    _, contact, agreement = await active_agreement(api, community)
    services, _ = agreement["pledges"]
    done = await record(contact, agreement, services["id"])
    r = await api.street.post(f"/api/v1/assessment/records/{done['id']}/confirm")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["review_note"]) == ("confirmed", None)
