"""Hours cannot be gamed: a volunteer who walks away before checking out is not credited
until a worker has looked, and every refused check-in or check-out says why."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from services.common.clock import clock, start_of_day
from tests.factories import staff_account, volunteer
from tests.support import assert_problem

PLACE = {"lat": 34.75, "lng": 113.65}
FAR = {"lat": 34.758, "lng": 113.65}  # 0.008° north: about 890 m away


async def _activity_at_nine(api, community: str, minutes: int = 6) -> dict:
    """Tomorrow 09:00 Beijing time, as the organiser's phone sends it."""
    start = start_of_day(clock.today() + timedelta(days=1)) + timedelta(hours=9)
    r = await api.admin.post(
        "/api/v1/volunteer/activities",
        json={
            "community_code": community,
            "title": "楼道清扫",
            "category": "environment",
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(minutes=minutes)).isoformat(),
            **PLACE,
            "radius_m": 100,
            "capacity": 10,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _attend(caller, event: dict, action: str, **where):
    return await caller.post(
        f"/api/v1/volunteer/activities/{event['id']}/attendance", json={"action": action, **where}
    )


async def test_a_check_out_from_890_m_away_waits_for_a_worker_and_never_beats_an_honest_one(
    api, new_community
):
    community = await new_community()
    manager = await staff_account(api, "community_admin", community, "李主任")
    honest, h = await volunteer(api, community)
    walker, w = await volunteer(api, community)
    event = await _activity_at_nine(api, community)
    for caller in (honest, walker):
        r = await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
        assert r.status_code == 201, r.text
    start = datetime.fromisoformat(event["start_at"])

    clock.set(start)  # 09:00 Beijing time, both at the place
    honest, walker = await api.resident(honest.openid), await api.resident(walker.openid)
    for caller in (honest, walker):
        r = await _attend(caller, event, "check_in", **PLACE)
        assert r.status_code == 200 and r.json()["ok"] is True, r.text

    clock.advance(timedelta(minutes=1))  # 09:01: one checks out there, one from down the road
    # The honest volunteer's phone sends the check-out twice at once: one check-out.
    first, second = await asyncio.gather(
        _attend(honest, event, "check_out", **PLACE), _attend(honest, event, "check_out", **PLACE)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409], (first.text, second.text)
    assert_problem(first if first.status_code == 409 else second, 409, "attendance.already")
    away = await _attend(walker, event, "check_out", **FAR)
    problem = assert_problem(away, 422, "attendance.outside_geofence")
    assert "890" in problem["detail"] and "100" in problem["detail"], problem
    assert (round(problem["distance_m"]), problem["radius_m"]) == (890, 100), problem

    clock.set(start + timedelta(minutes=40))  # after the end and its check-out window
    admin = await api.login("demo-admin", "gongjian-demo")
    done = await admin.post(f"/api/v1/volunteer/activities/{event['id']}/finish")
    assert done.status_code == 200, done.text
    assert (done.json()["attended"], done.json()["flagged"], done.json()["auto_closed"]) == (
        2,
        1,
        0,
    ), done.json()

    honest_ledger = (await admin.get(f"/api/v1/volunteer/volunteers/{h['id']}/hours")).json()
    assert honest_ledger["total_hours"] == "0.02", honest_ledger

    async def active() -> int:
        rate = await admin.get(
            "/api/v1/volunteer/stats/registration-rate", params={"area": community}
        )
        assert rate.status_code == 200, rate.text
        return rate.json()["active_last_12_months"]

    assert await active() == 1  # the honest one served; the walker's hours still wait
    walker_ledger = (await admin.get(f"/api/v1/volunteer/volunteers/{w['id']}/hours")).json()
    assert walker_ledger["total_hours"] == "0.00", walker_ledger  # not credited by itself
    [entry] = walker_ledger["entries"]
    assert entry["status"] == "pending" and entry["approved_by"] is None, entry
    assert "签退" in entry["reason"] and "890" in entry["reason"], entry
    assert entry["hours"] == "0.02", entry  # no more than up to the failed check-out

    signups = (await admin.get(f"/api/v1/volunteer/activities/{event['id']}/signups")).json()[
        "items"
    ]
    flags = {
        s["volunteer_id"]: (s["flagged"], s["review_reason"], s["review_reason_name"])
        for s in signups
    }
    assert flags == {
        h["id"]: (False, None, None),
        w["id"]: (True, "check_out_outside_geofence", "签退时不在活动范围内"),
    }, flags

    # The community is told there are hours to look at.
    manager = await api.login(manager.username, "staff-pass-1")
    [ask] = [
        n
        for n in (await manager.get("/api/v1/notifications")).json()["items"]
        if n["subject_id"] == event["id"]
    ]
    assert ask["kind"] == "hours_to_review" and "楼道清扫" in ask["body"] and not ask["settled_at"]

    # A worker looks and approves through the ledger's rules; it never beats the honest one.
    street = await api.login("demo-street", "gongjian-demo")
    approved = await street.post(f"/api/v1/volunteer/hours/adjustments/{entry['id']}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    walker_ledger = (await admin.get(f"/api/v1/volunteer/volunteers/{w['id']}/hours")).json()
    assert walker_ledger["total_hours"] <= honest_ledger["total_hours"]
    assert await active() == 2  # approved: the walker served too
    # Read as people read it: who entered and approved it by name, the reason without a
    # "waiting" that is no longer true.
    [entry] = walker_ledger["entries"]
    assert entry["approved_by_name"] == "经八路街道办" and "楼道清扫" in entry["entered_by_name"]
    assert "待审核" not in entry["reason"]
    [ask] = [
        n
        for n in (await manager.get("/api/v1/notifications")).json()["items"]
        if n["subject_id"] == event["id"]
    ]
    assert ask["settled_at"]  # nothing left to review for that activity


async def test_a_refused_check_in_or_out_says_why_in_chinese_or_english(api, new_community):
    community = await new_community()
    caller, _ = await volunteer(api, community)
    event = await _activity_at_nine(api, community, minutes=120)
    assert (await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")).is_success
    start = datetime.fromisoformat(event["start_at"])

    clock.set(start - timedelta(hours=2))  # 07:00: too early
    caller = await api.resident(caller.openid)
    early = assert_problem(
        await _attend(caller, event, "check_in", **PLACE), 409, "attendance.outside_window"
    )
    assert "08:30" in early["detail"] and "11:00" in early["detail"], early  # Beijing time
    assert early["window_start"].endswith("+08:00"), early
    english = assert_problem(
        await caller.post(
            f"/api/v1/volunteer/activities/{event['id']}/attendance",
            json={"action": "check_in", **PLACE},
            headers={"Accept-Language": "en"},
        ),
        409,
        "attendance.outside_window",
    )
    assert "08:30" in english["detail"] and "window" in english["detail"], english

    clock.set(start)
    caller = await api.resident(caller.openid)
    far = assert_problem(
        await _attend(caller, event, "check_in", **FAR), 422, "attendance.outside_geofence"
    )
    assert "890" in far["detail"] and "100 米" in far["detail"], far
    assert far["errors"] and far["errors"][0]["field"] == "lat", far

    admin = await api.login("demo-admin", "gongjian-demo")
    token = (await admin.get(f"/api/v1/volunteer/activities/{event['id']}/checkin-token")).json()[
        "token"
    ]
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert_problem(
        await _attend(caller, event, "check_in", token=forged), 422, "attendance.token_invalid"
    )
    assert_problem(
        await _attend(caller, event, "check_in", token="nonsense"), 422, "attendance.token_invalid"
    )
    clock.advance(timedelta(minutes=5))  # the QR code on the organiser's screen has rotated
    caller = await api.resident(caller.openid)
    stale = assert_problem(
        await _attend(caller, event, "check_in", token=token), 422, "attendance.token_expired"
    )
    assert stale["errors"][0]["field"] == "token", stale
    assert stale["code"] != "attendance.token_invalid"

    ok = await _attend(caller, event, "check_in", **PLACE)
    assert ok.status_code == 200 and ok.json()["ok"] is True, ok.text


async def test_a_check_out_after_its_window_is_flagged_and_a_later_good_one_clears_it(
    api, new_community
):
    """A check-out refused for its time or a stale code is a failed check-out too; one that
    then succeeds from the place is an ordinary check-out."""
    community = await new_community()
    late, v_late = await volunteer(api, community)
    back, v_back = await volunteer(api, community)
    event = await _activity_at_nine(api, community, minutes=60)
    for caller in (late, back):
        assert (await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")).is_success
    start = datetime.fromisoformat(event["start_at"])
    clock.set(start)
    late, back = await api.resident(late.openid), await api.resident(back.openid)
    for caller in (late, back):
        assert (await _attend(caller, event, "check_in", **PLACE)).json()["ok"] is True

    clock.advance(timedelta(minutes=30))
    back = await api.resident(back.openid)
    assert_problem(await _attend(back, event, "check_out", **FAR), 422)
    assert (await _attend(back, event, "check_out", **PLACE)).status_code == 200

    clock.set(start + timedelta(hours=2))  # an hour after the end: past the 30-minute window
    late = await api.resident(late.openid)
    assert_problem(
        await _attend(late, event, "check_out", **PLACE), 409, "attendance.outside_window"
    )
    admin = await api.login("demo-admin", "gongjian-demo")
    done = (await admin.post(f"/api/v1/volunteer/activities/{event['id']}/finish")).json()
    assert (done["attended"], done["flagged"]) == (2, 1), done
    entries = (await admin.get(f"/api/v1/volunteer/volunteers/{v_late['id']}/hours")).json()
    assert [e["status"] for e in entries["entries"]] == ["pending"], entries
    back_ledger = (await admin.get(f"/api/v1/volunteer/volunteers/{v_back['id']}/hours")).json()
    assert back_ledger["total_hours"] == "0.50", back_ledger
    signups = (await admin.get(f"/api/v1/volunteer/activities/{event['id']}/signups")).json()[
        "items"
    ]
    reasons = {s["volunteer_id"]: (s["review_reason"], s["review_reason_name"]) for s in signups}
    assert reasons == {
        v_late["id"]: ("check_out_outside_window", "签退时不在签退时间内"),
        v_back["id"]: (None, None),
    }, reasons
    # Attendance after the closing changes nothing.
    assert_problem(await _attend(late, event, "check_out", **PLACE), 409)
