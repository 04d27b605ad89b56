"""Residents register as volunteers from the mini-program; every community sees its way to
the 10% target (seed 000)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from services.common.clock import clock
from tests.factories import (
    DISTRICT,
    STREET_A,
    STREET_B,
    activity,
    community_with,
    resident_in_registry,
    staff_account,
    volunteer,
)
from tests.support import assert_problem, make_id_number


async def test_a_matched_resident_is_active_and_an_unmatched_one_waits(api, new_community):
    community = await new_community()
    _, active = await volunteer(api, community)
    assert active["status"] == "active" and active["matched_resident"] is True
    assert active["number"].startswith("V" + community) and "*" in active["id_number_masked"]
    caller, pending = await volunteer(api, community, matched=False)
    assert pending["status"] == "pending"
    assert_problem(
        await caller.post(
            f"/api/v1/volunteer/activities/{(await activity(api, community))['id']}/signups"
        ),
        409,
    )
    approved = await api.street.post(f"/api/v1/volunteer/volunteers/{pending['id']}/approve")
    assert approved.json()["status"] == "active"
    me = (await caller.get("/api/v1/me")).json()
    assert me["volunteer"] == {"id": pending["id"], "number": pending["number"], "status": "active"}
    assert (await caller.get("/api/v1/volunteer/volunteers/me")).json()["status"] == "active"


async def test_one_person_one_volunteer_record(api, new_community):
    community = await new_community()
    number = await resident_in_registry(api, community)
    body = {
        "name": "志愿者",
        "id_number": number,
        "phone": "13700001234",
        "community_code": community,
    }
    first = await (await api.resident()).post("/api/v1/volunteer/volunteers", json=body)
    assert first.status_code == 201
    second = await (await api.resident()).post("/api/v1/volunteer/volunteers", json=body)
    assert_problem(second, 409, "volunteer.already_registered")


async def test_minors_and_guardians(api, new_community):
    community = await new_community()
    today = clock.today()
    child = make_id_number(today.replace(year=today.year - 10))
    r = await (await api.resident()).post(
        "/api/v1/volunteer/volunteers",
        json={
            "name": "小明",
            "id_number": child,
            "phone": "13700001234",
            "community_code": community,
        },
    )
    assert_problem(r, 422, "volunteer.too_young")
    teen = make_id_number(today.replace(year=today.year - 16))
    body = {"name": "小红", "id_number": teen, "phone": "13700001234", "community_code": community}
    caller = await api.resident()
    assert_problem(
        await caller.post("/api/v1/volunteer/volunteers", json=body),
        422,
        "volunteer.guardian_required",
    )
    ok = await caller.post(
        "/api/v1/volunteer/volunteers",
        json=body | {"guardian": {"name": "红妈妈", "phone": "13900001111", "consent": True}},
    )
    assert ok.status_code == 201, ok.text


async def test_five_hundred_sign_ups_for_fifty_places(api, new_community):
    """Exactly 50 confirmed and 450 waitlisted, in order of arrival, on either database."""
    community = await new_community()
    event = await activity(api, community, capacity=50)
    callers = [(await volunteer(api, community))[0] for _ in range(500)]
    results = await asyncio.gather(
        *(c.post(f"/api/v1/volunteer/activities/{event['id']}/signups") for c in callers)
    )
    assert all(r.status_code == 201 for r in results), {r.status_code for r in results}
    signups = [r.json() for r in results]
    confirmed = [s for s in signups if s["status"] == "confirmed"]
    waitlisted = [s for s in signups if s["status"] == "waitlisted"]
    assert len(confirmed) == 50 and len(waitlisted) == 450
    assert sorted(s["position"] for s in signups) == list(range(1, 501))
    assert max(s["position"] for s in confirmed) < min(s["position"] for s in waitlisted)
    assert [s["waitlist_rank"] for s in sorted(waitlisted, key=lambda s: s["position"])] == list(
        range(1, 451)
    )
    state = (await api.admin.get(f"/api/v1/volunteer/activities/{event['id']}")).json()
    assert (state["confirmed"], state["waitlisted"]) == (50, 450)

    # A confirmed volunteer cancels: the head of the waitlist takes the place.
    leaver = callers[signups.index(confirmed[0])]
    head = min(waitlisted, key=lambda s: s["position"])
    r = await leaver.delete(f"/api/v1/volunteer/activities/{event['id']}/signups/me")
    assert r.json()["status"] == "cancelled"
    promoted = callers[signups.index(head)]
    page = (
        await api.admin.get(
            f"/api/v1/volunteer/activities/{event['id']}/signups", params={"limit": 100}
        )
    ).json()
    assert next(s for s in page["items"] if s["id"] == head["id"])["status"] == "confirmed"
    assert (await api.admin.get(f"/api/v1/volunteer/activities/{event['id']}")).json()[
        "confirmed"
    ] == 50
    assert promoted  # the promoted volunteer is one of ours


async def test_the_organiser_sees_each_waiting_volunteers_place_in_the_queue(api, new_community):
    """Two places, six sign-ups: the organiser's list ranks the four who wait 1 to 4 (1 is
    promoted next), as each of them was told on signing up, on every page; when one who
    waits cancels, those behind move up. Confirmed and cancelled sign-ups have no rank."""
    community = await new_community()
    organiser = await staff_account(api, "community_admin", community, "张社工")
    event = await activity(api, community, capacity=2)
    url = f"/api/v1/volunteer/activities/{event['id']}/signups"
    callers, own = [], []
    for _ in range(6):
        caller, _ = await volunteer(api, community)
        r = await caller.post(url)
        assert r.status_code == 201, r.text
        callers.append(caller)
        own.append(r.json())
    told = {s["id"]: s["waitlist_rank"] for s in own}
    assert list(told.values()) == [None, None, 1, 2, 3, 4]

    async def organisers_list(limit: int) -> list[dict]:
        items, cursor = [], None
        while True:
            r = await organiser.get(url, params={"limit": limit, "cursor": cursor})
            assert r.status_code == 200, r.text
            items += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return items

    for limit in (100, 4, 1):
        listed = await organisers_list(limit)
        assert {s["id"]: s["waitlist_rank"] for s in listed} == told, limit

    r = await callers[3].delete(f"{url}/me")  # the second in the queue gives up
    assert r.status_code == 200 and r.json()["waitlist_rank"] is None, r.text
    for limit in (100, 3):
        listed = await organisers_list(limit)
        assert [(s["status"], s["waitlist_rank"]) for s in listed] == [
            ("confirmed", None),
            ("confirmed", None),
            ("waitlisted", 1),
            ("cancelled", None),
            ("waitlisted", 2),
            ("waitlisted", 3),
        ], limit


async def test_no_two_activities_that_overlap(api, new_community):
    community = await new_community()
    caller, _ = await volunteer(api, community)
    one = await activity(api, community, start_in=timedelta(days=3), hours=3)
    two = await activity(api, community, start_in=timedelta(days=3, hours=1), hours=3)
    three = await activity(api, community, start_in=timedelta(days=3, hours=3), hours=1)
    assert (
        await caller.post(f"/api/v1/volunteer/activities/{one['id']}/signups")
    ).status_code == 201
    assert_problem(
        await caller.post(f"/api/v1/volunteer/activities/{two['id']}/signups"),
        409,
        "signup.overlaps",
    )
    assert (
        await caller.post(f"/api/v1/volunteer/activities/{three['id']}/signups")
    ).status_code == 201
    # The same one again is "already signed up", not a clash with itself.
    again = await caller.post(f"/api/v1/volunteer/activities/{one['id']}/signups")
    assert assert_problem(again, 409, "signup.exists")["detail"] == "已报名该活动。"


async def test_attendance_geofence_token_and_hours_clamped_to_the_window(api, new_community):
    community = await new_community()
    near, v1 = await volunteer(api, community)
    forgetful, v2 = await volunteer(api, community)
    absent, v3 = await volunteer(api, community)
    event = await activity(api, community, start_in=timedelta(days=1), hours=2)
    for caller in (near, forgetful, absent):
        assert (
            await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
        ).status_code == 201
    start = datetime.fromisoformat(event["start_at"])

    clock.set(start - timedelta(minutes=20))  # twenty minutes early
    near, forgetful = await api.resident(near.openid), await api.resident(forgetful.openid)
    far = await near.post(
        f"/api/v1/volunteer/activities/{event['id']}/attendance",
        json={"action": "check_in", "lat": 34.76, "lng": 113.65},
    )
    refused = assert_problem(far, 422, "attendance.outside_geofence")
    assert refused["distance_m"] > 1000 and refused["radius_m"] == 100
    ok = await near.post(
        f"/api/v1/volunteer/activities/{event['id']}/attendance",
        json={"action": "check_in", "lat": 34.7501, "lng": 113.6501},
    )
    assert ok.json()["ok"] is True and ok.json()["method"] == "geo" and "lat" not in ok.json()
    admin = await api.login("demo-admin", "gongjian-demo")
    token = (await admin.get(f"/api/v1/volunteer/activities/{event['id']}/checkin-token")).json()[
        "token"
    ]
    qr = await forgetful.post(
        f"/api/v1/volunteer/activities/{event['id']}/attendance",
        json={"action": "check_in", "token": token},
    )
    assert qr.json()["ok"] is True and qr.json()["method"] == "token"

    clock.advance(timedelta(hours=2, minutes=40))  # twenty minutes after the end
    near = await api.resident(near.openid)
    out = await near.post(
        f"/api/v1/volunteer/activities/{event['id']}/attendance",
        json={"action": "check_out", "lat": 34.75, "lng": 113.65},
    )
    assert out.json()["ok"] is True
    admin = await api.login("demo-admin", "gongjian-demo")
    done = (await admin.post(f"/api/v1/volunteer/activities/{event['id']}/finish")).json()
    assert (done["attended"], done["no_shows"], done["auto_closed"]) == (2, 1, 1)
    ledger = (await near.get(f"/api/v1/volunteer/volunteers/{v1['id']}/hours")).json()
    assert ledger["total_hours"] == "2.00"  # 2 h 40 min on site, clamped to the 2 h activity
    # Who never checked out is credited to the end only once a worker agrees: walking away
    # after checking in must not earn the whole activity by itself.
    forgot = (await admin.get(f"/api/v1/volunteer/volunteers/{v2['id']}/hours")).json()
    assert forgot["total_hours"] == "0.00"
    [entry] = forgot["entries"]
    assert (entry["status"], entry["hours"]) == ("pending", "2.00") and "未签退" in entry["reason"]
    signups = (await admin.get(f"/api/v1/volunteer/activities/{event['id']}/signups")).json()
    flags = {s["volunteer_id"]: (s["flagged"], s["review_reason"]) for s in signups["items"]}
    assert flags[v2["id"]] == (True, "no_check_out") and flags[v1["id"]] == (False, None)
    assert done["flagged"] == 1 and done["pending_approval"] == 1


async def test_a_stale_qr_token_is_refused(api, new_community):
    community = await new_community()
    caller, _ = await volunteer(api, community)
    event = await activity(api, community, start_in=timedelta(hours=1))
    await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
    token = (
        await api.admin.get(f"/api/v1/volunteer/activities/{event['id']}/checkin-token")
    ).json()["token"]
    clock.advance(timedelta(minutes=45))
    caller = await api.resident(caller.openid)
    r = await caller.post(
        f"/api/v1/volunteer/activities/{event['id']}/attendance",
        json={"action": "check_in", "token": token},
    )
    assert_problem(r, 422, "attendance.token_expired")


async def test_a_ledger_correction_needs_a_second_person(api, new_community):
    community = await new_community()
    caller, v = await volunteer(api, community)
    r = await api.street.post(
        "/api/v1/volunteer/hours/adjustments",
        json={
            "volunteer_id": v["id"],
            "hours": "3.5",
            "service_date": "2026-11-01",
            "reason": "补录线下服务",
        },
    )
    entry = r.json()
    assert r.status_code == 201 and entry["status"] == "pending"
    assert_problem(
        await api.street.post(f"/api/v1/volunteer/hours/adjustments/{entry['id']}/approve"),
        403,
        "hours.same_person",
    )
    assert (await caller.get(f"/api/v1/volunteer/volunteers/{v['id']}/hours")).json()[
        "total_hours"
    ] == "0.00"
    approved = await api.admin.post(f"/api/v1/volunteer/hours/adjustments/{entry['id']}/approve")
    assert approved.json()["status"] == "approved"
    mine = (await caller.get(f"/api/v1/volunteer/volunteers/{v['id']}/hours")).json()
    assert (
        mine["total_hours"] == "3.50"
        and mine["star_level"] == 0
        and mine["next_level_hours"] == "100"
    )
    other = await api.resident()
    assert_problem(await other.get(f"/api/v1/volunteer/volunteers/{v['id']}/hours"), 404)


async def test_the_rate_of_a_street_is_what_its_communities_give(api, new_community):
    """A community at 10.0% meets the target; one below it shows its shortfall in people."""
    full, short = await new_community(), await new_community()
    for community, residents, volunteers in ((full, 10, 1), (short, 21, 2)):
        for _ in range(residents - volunteers):
            await resident_in_registry(api, community)
        for _ in range(volunteers):
            await volunteer(api, community)
    await volunteer(api, short, matched=False)  # pending: not counted
    rate = (
        await api.street.get(
            "/api/v1/volunteer/stats/registration-rate", params={"area": "410105001000"}
        )
    ).json()
    rows = {c["area"]: c for c in rate["children"]}
    assert (
        rows[full]["residents"],
        rows[full]["volunteers"],
        rows[full]["rate"],
        rows[full]["shortfall"],
    ) == (10, 1, 0.1, 0)
    assert (rows[short]["residents"], rows[short]["volunteers"], rows[short]["shortfall"]) == (
        21,
        2,
        1,
    )
    assert rate["target"] == 0.1
    assert rate["volunteers"] == sum(c["volunteers"] for c in rate["children"])
    assert rate["residents"] == sum(c["residents"] for c in rate["children"])
    assert_problem(
        await api.community.get(
            "/api/v1/volunteer/stats/registration-rate", params={"area": "410105002000"}
        ),
        404,
    )


async def test_the_active_share_counts_who_served_in_the_last_twelve_months(api, new_community):
    """Approved hours within a year make a volunteer active; hours still waiting, hours from
    longer ago and a correction that takes hours away do not."""
    community = await new_community()
    today = clock.today()
    lines = {
        "served": [(today - timedelta(days=30), "2")],
        "long_ago": [(today - timedelta(days=400), "2")],
        "waiting": [(today - timedelta(days=10), "2", "pending")],
        "corrected": [(today - timedelta(days=400), "3"), (today - timedelta(days=5), "-1")],
        "none": [],
    }
    for entries in lines.values():
        _, v = await volunteer(api, community)
        for day, hours, *status in entries:
            r = await api.street.post(
                "/api/v1/volunteer/hours/adjustments",
                json={
                    "volunteer_id": v["id"],
                    "hours": hours,
                    "service_date": day.isoformat(),
                    "reason": "补录线下服务",
                },
            )
            assert r.status_code == 201, r.text
            if status != ["pending"]:
                approved = await api.admin.post(
                    f"/api/v1/volunteer/hours/adjustments/{r.json()['id']}/approve"
                )
                assert approved.status_code == 200, approved.text
    await volunteer(api, community, matched=False)  # pending: not a volunteer yet
    rate = (
        await api.admin.get("/api/v1/volunteer/stats/registration-rate", params={"area": STREET_A})
    ).json()
    row = {c["area"]: c for c in rate["children"]}[community]
    assert (row["volunteers"], row["active_last_12_months"], row["active_share"]) == (5, 1, 0.2)
    assert rate["active_last_12_months"] == sum(
        c["active_last_12_months"] for c in rate["children"]
    )


async def test_a_district_asked_by_community_answers_each_community_as_its_street_does(
    api, new_community
):
    """``level=community``: the district's communities at any depth, not its streets — the
    rows the assessment scores read a community's volunteer rate from."""
    first = await community_with(api, new_community, 30, 3, street=STREET_A)
    second = await community_with(api, new_community, 20, 1, street=STREET_B)

    async def rates(area: str, **level) -> dict:
        r = await api.admin.get(
            "/api/v1/volunteer/stats/registration-rate", params={"area": area, **level}
        )
        assert r.status_code == 200, r.text
        return r.json()

    by_street = await rates(DISTRICT)
    assert {c["area"] for c in by_street["children"]} >= {STREET_A, STREET_B}
    assert first not in {c["area"] for c in by_street["children"]}
    district = await rates(DISTRICT, level="community")
    rows = {c["area"]: c for c in district["children"]}
    for community, street in ((first, STREET_A), (second, STREET_B)):
        own = {c["area"]: c for c in (await rates(street))["children"]}[community]
        assert rows[community] == own
    assert (rows[first]["volunteers"], rows[first]["rate"]) == (3, 0.1)
    assert (rows[second]["volunteers"], rows[second]["rate"]) == (1, 0.05)
    # The area's own figures do not depend on how its children are drawn.
    assert {k: v for k, v in district.items() if k != "children"} == {
        k: v for k, v in by_street.items() if k != "children"
    }


async def test_in_service_party_members_report_and_are_counted_by_employer(api, new_community):
    community = await new_community()
    caller, v = await volunteer(
        api, community, in_service_party_member=True, employer_unit_id="unit-123"
    )
    assert (await caller.post("/api/v1/volunteer/volunteers/me/party-report")).json()[
        "party_reported_on"
    ]
    teams = (
        await api.admin.get("/api/v1/volunteer/teams", params={"community": community})
    ).json()["items"]
    assert [t["kind"] for t in teams] == ["party_member"] and teams[0]["members"] == 1
    stats = (
        await api.admin.get("/api/v1/volunteer/stats/party-members", params={"area": community})
    ).json()
    assert stats["by_unit"] == [{"key": "unit-123", "reported": 1, "hours": "0.00"}]
    assert stats["by_community"][0]["key"] == community


async def test_a_volunteer_asks_for_a_correction_and_a_worker_decides(api, new_community):
    community = await new_community()
    caller, v = await volunteer(api, community)
    r = await caller.post(
        "/api/v1/volunteer/volunteers/me/correction-requests",
        json={"hours": "2", "service_date": "2026-10-01", "reason": "国庆值守漏记"},
    )
    assert r.status_code == 201 and r.json()["status"] == "pending"
    assert_problem(
        await caller.post(f"/api/v1/volunteer/hours/adjustments/{r.json()['id']}/approve"), 403
    )
    decided = await api.street.post(f"/api/v1/volunteer/hours/adjustments/{r.json()['id']}/approve")
    assert decided.json()["status"] == "approved"
    assert (await caller.get(f"/api/v1/volunteer/volunteers/{v['id']}/hours")).json()[
        "total_hours"
    ] == "2.00"


async def test_an_id_number_already_a_volunteer_is_told_so_in_the_volunteers_words(
    api, new_community
):
    community = await new_community()
    number = await resident_in_registry(api, community, "钱多")
    body = {"name": "钱多", "id_number": number, "phone": "13700001234"}
    first_of_number = await (await api.resident()).post(
        "/api/v1/volunteer/volunteers", json={**body, "community_code": community}
    )
    assert first_of_number.status_code == 201, first_of_number.text
    r = await (await api.resident()).post(
        "/api/v1/volunteer/volunteers", json={**body, "community_code": community}
    )
    problem = assert_problem(r, 409, "volunteer.already_registered")
    [error] = problem["errors"]
    assert error["field"] == "id_number"
    assert "志愿者" in error["message"] and "现住居民" not in error["message"]


async def test_a_withdrawn_volunteer_registers_again_and_keeps_their_number(api, new_community):
    """A resident who left the volunteers re-joins, from the same account or a new phone's:
    the record they had reopens — the same id and number, active again by the same match
    with the registry as a newcomer's — and the history says so; one still active is a 409."""
    community = await new_community()
    number = await resident_in_registry(api, community, "周红")
    body = {
        "name": "周红",
        "id_number": number,
        "phone": "13700001234",
        "community_code": community,
    }
    caller = await api.resident()
    first = (await caller.post("/api/v1/volunteer/volunteers", json=body)).json()
    assert (await caller.post("/api/v1/volunteer/volunteers/me/withdraw")).status_code == 200

    again = await caller.post("/api/v1/volunteer/volunteers", json=body)
    assert again.status_code == 201, again.text
    assert (again.json()["id"], again.json()["number"]) == (first["id"], first["number"])
    assert again.json()["status"] == "active"
    assert (await caller.post("/api/v1/volunteer/volunteers/me/withdraw")).status_code == 200

    # A new phone, a new WeChat account: the same person, the same record.
    new_phone = await api.resident()
    back = await new_phone.post("/api/v1/volunteer/volunteers", json=body)
    assert back.status_code == 201, back.text
    assert (back.json()["id"], back.json()["number"]) == (first["id"], first["number"])
    assert back.json()["status"] == "active"
    mine = (await new_phone.get("/api/v1/volunteer/volunteers/me")).json()
    assert mine["id"] == first["id"] and mine["status"] == "active"
    # Not the registry's phone: it waits for review, as a newcomer's would.
    assert (await new_phone.post("/api/v1/volunteer/volunteers/me/withdraw")).status_code == 200
    other = await api.resident()
    r = await other.post("/api/v1/volunteer/volunteers", json={**body, "name": "周红红"})
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    assert r.json()["id"] == first["id"]
    # Pending or active, it is a 409.
    r = await (await api.resident()).post("/api/v1/volunteer/volunteers", json=body)
    assert_problem(r, 409, "volunteer.already_registered")

    history = await api.admin.get(f"/api/v1/volunteer/volunteers/{first['id']}/history")
    actions = [e["action"] for e in history.json()["items"]]
    assert actions == [
        "registered",
        "withdrawn",
        "registered",
        "withdrawn",
        "registered",
        "withdrawn",
        "registered",
    ]
