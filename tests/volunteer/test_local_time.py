"""A resident's day is a Beijing day: at 07:30 Beijing time the UTC date is still yesterday,
and an activity set for 09:00+08:00 is at 09:00+08:00 whichever database keeps it."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.common.clock import clock, start_of_day, to_local
from tests.factories import volunteer
from tests.support import assert_problem, make_id_number


async def test_an_activity_at_nine_beijing_time_reads_back_at_nine(api, new_community):
    community = await new_community()
    start = start_of_day(clock.today() + timedelta(days=1)) + timedelta(hours=9)
    # start with +08:00, end with no offset at all: both are Beijing time
    r = await api.admin.post("/api/v1/volunteer/activities", json=_body(community, start))
    assert r.status_code == 201, r.text
    read = (await api.admin.get(f"/api/v1/volunteer/activities/{r.json()['id']}")).json()
    assert datetime.fromisoformat(read["start_at"]) == start
    assert datetime.fromisoformat(read["end_at"]) == start + timedelta(hours=2)
    assert read["start_at"].endswith("+08:00")

    caller, _ = await volunteer(api, community)
    assert (
        await caller.post(f"/api/v1/volunteer/activities/{read['id']}/signups")
    ).status_code == 201
    clock.set(start + timedelta(minutes=5))  # 09:05 Beijing time, at the place
    caller = await api.resident(caller.openid)
    checked = await caller.post(
        f"/api/v1/volunteer/activities/{read['id']}/attendance",
        json={"action": "check_in", "lat": 34.75, "lng": 113.65},
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["ok"] is True, checked.json()


async def test_a_fourteenth_birthday_counts_from_the_beijing_morning(api, new_community):
    """At 07:30 on the birthday (23:30 UTC the evening before) the resident is 14: old
    enough to register, with a guardian's consent."""
    community = await new_community()
    today = clock.today()
    assert clock.now().date() != today  # the story happens in the hours that differ
    born = today.replace(year=today.year - 14)
    r = await (await api.resident()).post(
        "/api/v1/volunteer/volunteers",
        json={
            "name": "小华",
            "id_number": make_id_number(born),
            "phone": "13700001234",
            "community_code": community,
        },
    )
    assert_problem(r, 422, "volunteer.guardian_required")  # 14 today, not 13


def _body(community: str, start: datetime) -> dict:
    return {
        "community_code": community,
        "title": "义诊",
        "category": "health",
        "start_at": start.isoformat(),
        "end_at": (start + timedelta(hours=2)).replace(tzinfo=None).isoformat(),
        "lat": 34.75,
        "lng": 113.65,
        "radius_m": 100,
        "capacity": 5,
    }


async def test_an_activity_already_over_is_not_published(api, new_community):
    """Yesterday's 09:00–11:00 (Beijing) cannot be signed up for: hours for it are a
    back-entry, not an activity."""
    community = await new_community()
    start = start_of_day(clock.today() - timedelta(days=1)) + timedelta(hours=9)
    r = await api.admin.post("/api/v1/volunteer/activities", json=_body(community, start))
    body = assert_problem(r, 422, "validation.in_past")
    assert body["errors"][0]["field"] == "end_at"
    # One that has begun but not ended may still be put up, with sign-up open till later.
    begun = to_local(clock.now() - timedelta(minutes=30))
    later = to_local(clock.now() + timedelta(minutes=30))
    r = await api.admin.post(
        "/api/v1/volunteer/activities",
        json={**_body(community, begun), "signup_deadline": later.isoformat()},
    )
    assert r.status_code == 201, r.text


async def test_an_activity_nobody_could_join_is_not_published(api, new_community):
    """A worker puts up this morning's 09:00 class at 09:30 Beijing time without a sign-up
    deadline: sign-up would have closed at the start, so it is refused, naming start_at and
    saying why; a deadline already past is refused by its own name."""
    community = await new_community()
    now = to_local(clock.now())
    begun = now - timedelta(minutes=30)
    r = await api.admin.post("/api/v1/volunteer/activities", json=_body(community, begun))
    body = assert_problem(r, 422, "validation.in_past")
    [error] = body["errors"]
    assert error["field"] == "start_at" and "报名截止" in error["message"], error

    tomorrow = now + timedelta(days=1)
    r = await api.admin.post(
        "/api/v1/volunteer/activities",
        json={
            **_body(community, tomorrow),
            "signup_deadline": (now - timedelta(hours=1)).isoformat(),
        },
    )
    body = assert_problem(r, 422, "validation.in_past")
    [error] = body["errors"]
    assert error["field"] == "signup_deadline" and "已过" in error["message"], error
    listed = await api.admin.get("/api/v1/volunteer/activities", params={"community": community})
    assert listed.json()["items"] == []
