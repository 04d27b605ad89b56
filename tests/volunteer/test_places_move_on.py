"""Places move on and people are told: a volunteer who withdraws gives up their places on
activities still to come, the waitlist is promoted in order, and whoever is promoted — or
signed up for an activity whose time or place changed — finds it in their inbox."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from services.common.clock import clock, to_local
from tests.factories import STREET_B, activity, volunteer
from tests.support import assert_problem


async def _inbox(caller) -> list[dict]:
    r = await caller.get("/api/v1/notifications")
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _signups(api, event_id: str, admin=None) -> list[dict]:
    r = await (admin or api.admin).get(
        f"/api/v1/volunteer/activities/{event_id}/signups", params={"limit": 100}
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _by_volunteer(signups: list[dict]) -> dict[str, str]:
    return {s["volunteer_id"]: s["status"] for s in signups if s["status"] != "cancelled"}


def _assert_fair(signups: list[dict], capacity: int, counted: int) -> None:
    confirmed = [s["position"] for s in signups if s["status"] == "confirmed"]
    waiting = [s["position"] for s in signups if s["status"] == "waitlisted"]
    assert len(confirmed) <= capacity, signups
    if waiting:
        assert len(confirmed) == capacity, f"waitlisted {waiting} beside a free place"
        assert max(confirmed) < min(waiting), signups
    assert counted == len(confirmed), (counted, signups)


async def test_a_withdrawn_volunteer_gives_up_future_places_and_the_waitlists_move_up(
    api, new_community
):
    community = await new_community()
    leaver, lv = await volunteer(api, community)
    first, fv = await volunteer(api, community)
    second, sv = await volunteer(api, community)
    other, ov = await volunteer(api, community)
    full = await activity(
        api, community, capacity=1, title="敬老院探访", start_in=timedelta(days=2)
    )
    roomy = await activity(api, community, capacity=2, start_in=timedelta(days=3))
    today = await activity(api, community, capacity=5, start_in=timedelta(hours=1))
    for caller, event in (
        (leaver, full),
        (first, full),
        (second, full),
        (leaver, roomy),
        (other, roomy),
        (leaver, today),
    ):
        r = await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
        assert r.status_code == 201, r.text

    clock.advance(timedelta(hours=1, minutes=10))  # today's activity has begun
    leaver = await api.resident(leaver.openid)
    admin = await api.login("demo-admin", "gongjian-demo")
    r = await leaver.post("/api/v1/volunteer/volunteers/me/withdraw")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn", r.text

    assert _by_volunteer(await _signups(api, full["id"], admin)) == {
        fv["id"]: "confirmed",
        sv["id"]: "waitlisted",
    }
    state = (await admin.get(f"/api/v1/volunteer/activities/{roomy['id']}")).json()
    assert state["confirmed"] == 1 and _by_volunteer(await _signups(api, roomy["id"], admin)) == {
        ov["id"]: "confirmed"
    }
    # What has begun is history: the place on it stays.
    assert _by_volunteer(await _signups(api, today["id"], admin)) == {lv["id"]: "confirmed"}

    first = await api.resident(first.openid)
    [note] = [n for n in await _inbox(first) if n["kind"] == "waitlist_promoted"]
    assert "敬老院探访" in note["body"] and note["subject_id"] == full["id"], note
    second = await api.resident(second.openid)
    assert not [n for n in await _inbox(second) if n["kind"] == "waitlist_promoted"]


async def test_a_withdrawal_racing_sign_ups_leaves_no_place_free(api, new_community):
    """The withdrawal frees places on several activities while newcomers arrive for them."""
    community = await new_community()
    for _ in range(3):
        leaver, _ = await volunteer(api, community)
        holder, _ = await volunteer(api, community)
        newcomers = [await volunteer(api, community) for _ in range(3)]
        events = [
            await activity(api, community, capacity=2, start_in=timedelta(days=2 + n, hours=n))
            for n in range(2)
        ]
        for event in events:
            for caller in (leaver, holder):
                r = await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
                assert r.status_code == 201, r.text
        answers = await asyncio.gather(
            *(
                c.post(f"/api/v1/volunteer/activities/{events[0]['id']}/signups")
                for c, _ in newcomers[:2]
            ),
            leaver.post("/api/v1/volunteer/volunteers/me/withdraw"),
            *(
                c.post(f"/api/v1/volunteer/activities/{events[1]['id']}/signups")
                for c, _ in newcomers
            ),
        )
        assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
        for event, arrived in zip(events, (2, 3), strict=True):
            state = (await api.admin.get(f"/api/v1/volunteer/activities/{event['id']}")).json()
            signups = await _signups(api, event["id"])
            _assert_fair(signups, 2, state["confirmed"])
            assert (state["confirmed"], state["waitlisted"]) == (2, arrived - 1), signups


async def test_a_cancellation_tells_the_promoted_volunteer(api, new_community):
    community = await new_community()
    holder, _ = await volunteer(api, community)
    waiting, wv = await volunteer(api, community)
    event = await activity(api, community, capacity=1, title="垃圾分类宣传")
    for caller in (holder, waiting):
        r = await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
        assert r.status_code == 201, r.text
    r = await holder.delete(f"/api/v1/volunteer/activities/{event['id']}/signups/me")
    assert r.status_code == 200, r.text
    [note] = [n for n in await _inbox(waiting) if n["kind"] == "waitlist_promoted"]
    assert "垃圾分类宣传" in note["body"] and note["subject_id"] == event["id"]
    assert not [n for n in await _inbox(holder) if n["kind"] == "waitlist_promoted"]


async def test_an_organiser_moves_an_activity_and_everyone_signed_up_is_told(api, new_community):
    community = await new_community()
    confirmed, _ = await volunteer(api, community)
    waiting, _ = await volunteer(api, community)
    cancelled, _ = await volunteer(api, community)
    event = await activity(api, community, capacity=1, title="社区义诊", start_in=timedelta(days=3))
    url = f"/api/v1/volunteer/activities/{event['id']}"
    for caller in (cancelled, confirmed, waiting):
        assert (await caller.post(f"{url}/signups")).status_code == 201
    await cancelled.delete(f"{url}/signups/me")

    # Only the description: nobody needs a message for that.
    r = await api.admin.patch(url, json={"description": "请自带水杯"})
    assert r.status_code == 200 and r.json()["description"] == "请自带水杯", r.text
    assert not [n for n in await _inbox(confirmed) if n["kind"] == "activity_changed"]

    start = datetime.fromisoformat(event["start_at"]) + timedelta(days=1)
    moved = await api.admin.patch(
        url,
        json={
            "start_at": to_local(start).isoformat(),
            "end_at": to_local(start + timedelta(hours=3)).isoformat(),
            "address": "社区卫生服务站",
        },
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert datetime.fromisoformat(body["start_at"]) == start and body["start_at"].endswith("+08:00")
    assert body["address"] == "社区卫生服务站"
    for caller in (confirmed, waiting):
        [note] = [n for n in await _inbox(caller) if n["kind"] == "activity_changed"]
        assert "社区义诊" in note["body"] and to_local(start).strftime("%H:%M") in note["body"]
    assert not [n for n in await _inbox(cancelled) if n["kind"] == "activity_changed"]
    # A sign-up keeps the activity's own times (overlap checks read them).
    signups = await _signups(api, event["id"])
    assert {datetime.fromisoformat(s["start_at"]) for s in signups} == {start}, signups

    # The place moved: told again (once the first message was read; one unread is enough).
    for note in await _inbox(confirmed):
        await confirmed.post(f"/api/v1/notifications/{note['id']}/read")
    r = await api.admin.patch(url, json={"lat": 34.76, "lng": 113.66, "radius_m": 150})
    assert r.status_code == 200 and r.json()["radius_m"] == 150, r.text
    assert len([n for n in await _inbox(confirmed) if n["kind"] == "activity_changed"]) == 2


async def test_capacity_never_below_the_confirmed_and_raising_it_promotes_in_order(
    api, new_community
):
    community = await new_community()
    people = [await volunteer(api, community) for _ in range(5)]
    event = await activity(api, community, capacity=2, title="冬季送温暖")
    url = f"/api/v1/volunteer/activities/{event['id']}"
    for caller, _ in people:
        assert (await caller.post(f"{url}/signups")).status_code == 201

    below = await api.admin.patch(url, json={"capacity": 1})
    problem = assert_problem(below, 409, "activity.capacity_below_confirmed")
    assert "2" in problem["detail"] and problem["errors"][0]["field"] == "capacity", problem
    assert_problem(await api.admin.patch(url, json={"capacity": 0}), 422)
    bad = await api.admin.patch(url, json={"end_at": event["start_at"]})
    assert assert_problem(bad, 422)["errors"][0]["field"] == "end_at"
    assert_problem(await api.admin.patch(url, json={"title": ""}), 422)

    raised = await api.admin.patch(url, json={"capacity": 4})
    assert raised.status_code == 200, raised.text
    assert (raised.json()["capacity"], raised.json()["confirmed"], raised.json()["waitlisted"]) == (
        4,
        4,
        1,
    )
    statuses = [
        s["status"] for s in sorted(await _signups(api, event["id"]), key=lambda s: s["position"])
    ]
    assert statuses == ["confirmed"] * 4 + ["waitlisted"]
    for n, (caller, _) in enumerate(people):
        promoted = [m for m in await _inbox(caller) if m["kind"] == "waitlist_promoted"]
        assert len(promoted) == (1 if n in (2, 3) else 0), (n, promoted)


async def test_capacity_raised_while_sign_ups_arrive_stays_fair(api, new_community):
    community = await new_community()
    for _ in range(3):
        people = [await volunteer(api, community) for _ in range(6)]
        event = await activity(api, community, capacity=1)
        url = f"/api/v1/volunteer/activities/{event['id']}"
        for caller, _ in people[:3]:
            assert (await caller.post(f"{url}/signups")).status_code == 201
        answers = await asyncio.gather(
            people[3][0].post(f"{url}/signups"),
            api.admin.patch(url, json={"capacity": 4}),
            *(c.post(f"{url}/signups") for c, _ in people[4:]),
        )
        assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
        state = (await api.admin.get(url)).json()
        _assert_fair(await _signups(api, event["id"]), 4, state["confirmed"])
        assert (state["confirmed"], state["waitlisted"]) == (4, 2)


async def test_an_activity_is_changed_only_by_an_organiser_within_scope(api, new_community):
    elsewhere = await new_community(STREET_B)
    event = await activity(api, elsewhere)
    url = f"/api/v1/volunteer/activities/{event['id']}"
    assert_problem(await api.street.patch(url, json={"title": "改名"}), 404)
    resident, _ = await volunteer(api, elsewhere)
    assert_problem(await resident.patch(url, json={"title": "改名"}), 403)
    assert (await api.admin.get(url)).json()["title"] == "清洁家园"
