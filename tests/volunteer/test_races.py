"""Requests that arrive at the same moment: on PostgreSQL they really interleave (SQLite
serialises writers), and the outcome must be the one some order of them one by one gives."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from services.common.clock import clock
from tests.factories import activity, volunteer
from tests.support import assert_problem


async def _signups(api, event_id: str) -> list[dict]:
    page = (
        await api.admin.get(
            f"/api/v1/volunteer/activities/{event_id}/signups", params={"limit": 100}
        )
    ).json()
    return page["items"]


def _assert_fair(signups: list[dict], capacity: int, counted: int) -> None:
    """No free place while someone waits, capacity never exceeded, the earliest arrivals
    hold the places, and the activity's own count agrees."""
    confirmed = [s["position"] for s in signups if s["status"] == "confirmed"]
    waiting = [s["position"] for s in signups if s["status"] == "waitlisted"]
    assert len(confirmed) <= capacity, signups
    if waiting:
        assert len(confirmed) == capacity, f"waitlisted {waiting} beside a free place"
        assert max(confirmed) < min(waiting), signups
    assert counted == len(confirmed), (counted, signups)


async def test_a_cancellation_racing_a_sign_up_for_the_last_place(api, new_community):
    """The newcomer takes the freed place, whichever request the database sees first."""
    community = await new_community()
    people = [await volunteer(api, community) for _ in range(2 * 12)]
    for trial in range(12):
        (leaver, _), (newcomer, _) = people[2 * trial], people[2 * trial + 1]
        event = await activity(api, community, capacity=1)
        url = f"/api/v1/volunteer/activities/{event['id']}/signups"
        assert (await leaver.post(url)).json()["status"] == "confirmed"
        cancelled, joined = await asyncio.gather(leaver.delete(f"{url}/me"), newcomer.post(url))
        assert cancelled.status_code == 200, cancelled.text
        assert joined.status_code == 201, joined.text
        signups = await _signups(api, event["id"])
        state = (await api.admin.get(f"/api/v1/volunteer/activities/{event['id']}")).json()
        _assert_fair(signups, 1, state["confirmed"])
        assert [s["status"] for s in signups if s["status"] != "cancelled"] == ["confirmed"], (
            f"trial {trial}: {signups}"
        )


async def test_cancellations_and_sign_ups_all_at_once_leave_no_place_free(api, new_community):
    """Two of three places given up while five newcomers arrive: the waitlist's head is
    promoted each time, and nobody waits beside a free place."""
    community = await new_community()
    for _ in range(4):
        holders = [await volunteer(api, community) for _ in range(3)]
        newcomers = [await volunteer(api, community) for _ in range(5)]
        event = await activity(api, community, capacity=3)
        url = f"/api/v1/volunteer/activities/{event['id']}/signups"
        for caller, _ in holders:
            assert (await caller.post(url)).json()["status"] == "confirmed"
        answers = await asyncio.gather(
            holders[0][0].delete(f"{url}/me"),
            *(c.post(url) for c, _ in newcomers[:3]),
            holders[1][0].delete(f"{url}/me"),
            *(c.post(url) for c, _ in newcomers[3:]),
        )
        assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
        state = (await api.admin.get(f"/api/v1/volunteer/activities/{event['id']}")).json()
        _assert_fair(await _signups(api, event["id"]), 3, state["confirmed"])
        assert (state["confirmed"], state["waitlisted"]) == (3, 3)


async def test_two_finishes_at_once_write_the_hours_once(api, new_community):
    """The organiser taps "finish" twice (or on two phones): one closing, one line of hours
    per attendee, and the other tap is told the activity is closed."""
    community = await new_community()
    people = [await volunteer(api, community) for _ in range(3)]
    event = await activity(api, community, start_in=timedelta(days=1), hours=2)
    for caller, _ in people:
        r = await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
        assert r.status_code == 201, r.text
    clock.set(datetime.fromisoformat(event["start_at"]) + timedelta(minutes=5))
    for caller, _ in people:
        caller = await api.resident(caller.openid)
        r = await caller.post(
            f"/api/v1/volunteer/activities/{event['id']}/attendance",
            json={"action": "check_in", "lat": 34.75, "lng": 113.65},
        )
        assert r.json()["ok"] is True, r.text
    clock.advance(timedelta(hours=2))
    admin = await api.login("demo-admin", "gongjian-demo")
    answers = await asyncio.gather(
        *(admin.post(f"/api/v1/volunteer/activities/{event['id']}/finish") for _ in range(6))
    )
    done = [r for r in answers if r.status_code == 200]
    assert len(done) == 1, [r.text for r in answers]
    assert done[0].json()["hours_entries"] == 3
    for r in answers:
        if r.status_code != 200:
            assert_problem(r, 409, "activity.not_open")
    for _, record in people:
        ledger = (await admin.get(f"/api/v1/volunteer/volunteers/{record['id']}/hours")).json()
        # 1 h 55 min, once; nobody checked out, so it waits for a worker.
        [entry] = ledger["entries"]
        assert (entry["hours"], entry["status"]) == ("1.92", "pending"), ledger
