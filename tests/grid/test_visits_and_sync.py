"""Household visits and the grid worker's offline sync."""

from __future__ import annotations

from datetime import timedelta

from services.common.clock import clock, to_local
from services.common.geo import from_wgs84
from tests.factories import populate, report, setup_cell
from tests.support import assert_problem


async def test_a_visit_records_whether_the_phone_was_inside_and_counts_toward_coverage(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    _, households, _ = await populate(api, cell, point)
    now = to_local(clock.now()).isoformat()  # a phone in Beijing: +08:00
    inside = await grid.post(
        "/api/v1/grid/visits",
        json={
            "household_id": households[0],
            "visited_at": now,
            "findings": ["elderly_alone_checked"],
            "note": "老人身体良好",
            "lat": point[0],
            "lng": point[1],
        },
    )
    assert inside.status_code == 201, inside.text
    body = inside.json()
    assert (
        body["inside_cell"] is True
        and body["distance_m"] == 0
        and body["cell_code"] == cell["code"]
    )
    assert "lat" not in body  # the track is not kept
    outside = await grid.post(
        "/api/v1/grid/visits",
        json={
            "household_id": households[0],
            "visited_at": now,
            "lat": point[0] - 0.01,
            "lng": point[1],
        },
    )
    assert outside.json()["inside_cell"] is False and outside.json()["distance_m"] > 800
    period = f"{clock.today().year}"
    coverage = (
        await grid.get(f"/api/v1/grid/cells/{cell['code']}/coverage", params={"period": period})
    ).json()
    assert (coverage["households"], coverage["visited"], coverage["coverage"]) == (2, 1, 0.5)
    r = await grid.post(
        "/api/v1/grid/visits",
        json={"household_id": households[1], "visited_at": now, "findings": ["ufo"]},
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "findings"
    earlier = (to_local(clock.now()) - timedelta(days=1)).replace(microsecond=0)
    r = await grid.post(  # a time without its offset is Beijing time
        "/api/v1/grid/visits",
        json={
            "household_id": households[1],
            "visited_at": earlier.replace(tzinfo=None).isoformat(),
        },
    )
    assert r.status_code == 201 and r.json()["visited_at"] == earlier.isoformat(), r.text


async def test_a_worker_syncs_only_their_cells_and_then_only_what_changed(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    building_id, households, residents = await populate(api, cell, point)
    case = await report(grid, point)
    # A neighbouring cell this worker does not hold.
    other_cell, other_grid, other_point = await setup_cell(
        api, new_community, (spot[0] + 0.006, spot[1]), worker
    )
    other_case = await report(other_grid, other_point)
    # Sync windows overlap by a few seconds (a late commit is never skipped): let the setup
    # settle past that before the first sync.
    clock.advance(timedelta(seconds=10))
    grid = await api.login(grid.username, "grid-pass-1")

    full = await grid.get("/api/v1/grid/sync")
    assert full.status_code == 200, full.text
    body = full.json()
    assert body["full"] is True
    assert [c["code"] for c in body["cells"]] == [cell["code"]]
    assert [b["id"] for b in body["buildings"]] == [building_id]
    assert sorted(h["id"] for h in body["households"]) == sorted(households)
    assert sorted(r["id"] for r in body["residents"]) == sorted(residents)
    assert all(
        "*" in r["id_number_masked"] and r["phone"] == "139****2222" for r in body["residents"]
    )
    assert [c["id"] for c in body["cases"]] == [case["id"]]
    assert_problem(await grid.get(f"/api/v1/grid/cases/{other_case['id']}"), 404)

    # Nothing changed: the same content, so the same ETag and a 304.
    clock.advance(timedelta(seconds=10))
    grid = await api.login(grid.username, "grid-pass-1")
    empty = await grid.get("/api/v1/grid/sync", params={"cursor": body["cursor"]})
    assert (
        empty.json()["full"] is False
        and not empty.json()["residents"]
        and not empty.json()["cases"]
    )
    assert len(empty.content) < 1024
    again = await grid.get(
        "/api/v1/grid/sync",
        params={"cursor": body["cursor"]},
        headers={"If-None-Match": empty.headers["etag"]},
    )
    assert again.status_code == 304

    # A resident moves out and the case is accepted: the delta carries just that.
    admin = await api.login("demo-admin", "gongjian-demo")
    await admin.post(
        f"/api/v1/registry/residents/{residents[0]}/move-out",
        json={"moved_out_on": "2026-11-20", "reason": "迁出"},
    )
    await admin.post(f"/api/v1/grid/cases/{case['id']}/transitions", json={"action": "accept"})
    clock.advance(timedelta(seconds=10))
    grid = await api.login(grid.username, "grid-pass-1")
    delta = (await grid.get("/api/v1/grid/sync", params={"cursor": empty.json()["cursor"]})).json()
    assert delta["deleted"]["residents"] == [residents[0]]
    assert [c["status"] for c in delta["cases"]] == ["accepted"]
    assert delta["buildings"] == [] and delta["households"] == []


async def test_an_expired_or_broken_cursor(api, new_community, spot, worker):
    _, grid, _ = await setup_cell(api, new_community, spot, worker)
    cursor = (await grid.get("/api/v1/grid/sync")).json()["cursor"]
    clock.advance(timedelta(days=31))
    grid = await api.login(grid.username, "grid-pass-1")
    assert_problem(
        await grid.get("/api/v1/grid/sync", params={"cursor": cursor}), 410, "sync.cursor_expired"
    )
    assert_problem(
        await grid.get("/api/v1/grid/sync", params={"cursor": "garbage"}),
        400,
        "pagination.cursor_invalid",
    )


async def test_a_replayed_offline_visit_creates_one(api, new_community, spot, worker):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    _, households, _ = await populate(api, cell, point)
    body = {
        "id": "0192f0c4-2222-7aaa-8bbb-000000000001"[:-6] + households[0][-6:],
        "household_id": households[0],
        "visited_at": to_local(clock.now()).isoformat(),
    }
    key = {"Idempotency-Key": "visit-" + body["id"]}
    a = await grid.post("/api/v1/grid/visits", json=body, headers=key)
    b = await grid.post("/api/v1/grid/visits", json=body, headers=key)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    listed = (await grid.get("/api/v1/grid/visits", params={"household_id": households[0]})).json()
    assert [v["id"] for v in listed["items"]] == [body["id"]]


async def test_a_cell_joined_comes_whole_and_one_left_or_moved_away_is_a_tombstone(
    api, new_community, spot, worker
):
    cell_a, grid, point_a = await setup_cell(api, new_community, spot, worker)
    await populate(api, cell_a, point_a)
    # Cell B, worked by somebody else, already full of people before our worker joins it.
    cell_b, other, point_b = await setup_cell(
        api, new_community, (spot[0] + 0.006, spot[1]), worker
    )
    building_b, households_b, residents_b = await populate(api, cell_b, point_b)
    case_b = await report(other, point_b)
    clock.advance(timedelta(seconds=10))
    grid = await api.login(grid.username, "grid-pass-1")
    first = (await grid.get("/api/v1/grid/sync")).json()
    assert [c["code"] for c in first["cells"]] == [cell_a["code"]]

    # Joining B: the delta brings B whole, though none of its rows changed.
    me = (await grid.get("/api/v1/me")).json()["id"]
    other_id = (await other.get("/api/v1/me")).json()["id"]
    r = await api.admin.put(
        f"/api/v1/grid/cells/{cell_b['code']}/members", json={"workers": [other_id, me]}
    )
    assert r.status_code == 200, r.text
    clock.advance(timedelta(seconds=10))
    grid = await api.login(grid.username, "grid-pass-1")
    joined = (await grid.get("/api/v1/grid/sync", params={"cursor": first["cursor"]})).json()
    assert [c["code"] for c in joined["cells"]] == [cell_b["code"]]
    assert [b["id"] for b in joined["buildings"]] == [building_b]
    assert sorted(h["id"] for h in joined["households"]) == sorted(households_b)
    assert sorted(r["id"] for r in joined["residents"]) == sorted(residents_b)
    assert [c["id"] for c in joined["cases"]] == [case_b["id"]]
    assert joined["deleted"]["cells"] == [] and joined["deleted"]["buildings"] == []

    # B's boundary shrinks away from its building: the building leaves B, a tombstone.
    corner = {
        "type": "Polygon",
        "coordinates": [
            [
                [spot[1], spot[0] + 0.006],
                [spot[1] + 0.001, spot[0] + 0.006],
                [spot[1] + 0.001, spot[0] + 0.007],
                [spot[1], spot[0] + 0.007],
                [spot[1], spot[0] + 0.006],
            ]
        ],
    }
    r = await api.admin.patch(f"/api/v1/grid/cells/{cell_b['code']}", json={"boundary": corner})
    assert r.status_code == 200, r.text
    building = (await api.admin.get(f"/api/v1/registry/buildings/{building_b}")).json()
    assert building["cell_code"] is None
    clock.advance(timedelta(seconds=10))
    grid = await api.login(grid.username, "grid-pass-1")
    moved = (await grid.get("/api/v1/grid/sync", params={"cursor": joined["cursor"]})).json()
    assert moved["deleted"]["buildings"] == [building_b]
    assert moved["buildings"] == [] and moved["residents"] == []

    # Taken off A: A is a tombstone (the phone drops it and all it held).
    r = await api.admin.put(f"/api/v1/grid/cells/{cell_a['code']}/members", json={"workers": []})
    assert r.status_code == 200, r.text
    clock.advance(timedelta(seconds=10))
    grid = await api.login(grid.username, "grid-pass-1")
    left = (await grid.get("/api/v1/grid/sync", params={"cursor": moved["cursor"]})).json()
    assert left["deleted"]["cells"] == [cell_a["code"]]
    assert cell_a["code"] not in [c["code"] for c in left["cells"]]


async def test_a_building_given_new_coordinates_is_placed_again(api, new_community, spot, worker):
    cell, _, point = await setup_cell(api, new_community, spot, worker)
    building_id, _, _ = await populate(api, cell, point)
    url = f"/api/v1/registry/buildings/{building_id}"
    # South of every patch the stories draw on: 0.01° south was the patch below's cell once
    # forty stories had taken a patch before this one.
    away = await api.admin.patch(url, json={"lat": point[0] - 0.3, "lng": point[1]})
    assert away.status_code == 200, away.text
    assert away.json()["cell_code"] is None
    back = await api.admin.patch(url, json={"lat": point[0], "lng": point[1]})
    assert back.json()["cell_code"] == cell["code"]
    named = await api.admin.patch(url, json={"lat": point[0] - 0.01, "cell_code": cell["code"]})
    assert named.json()["cell_code"] == cell["code"]  # a cell named in the patch wins


async def test_a_phone_on_a_chinese_map_syncs_in_gcj02(api, new_community, spot, worker):
    """Tencent and AMap maps draw GCJ-02: the phone asks for it, and every building, cell
    and case comes in that system (about 600 m off in WGS-84)."""
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    building_id, _, _ = await populate(api, cell, point)
    case = await report(grid, point)
    clock.advance(timedelta(seconds=10))
    grid = await api.login(grid.username, "grid-pass-1")
    plain = (await grid.get("/api/v1/grid/sync")).json()
    shown = (await grid.get("/api/v1/grid/sync", params={"coord_system": "gcj02"})).json()
    [b_wgs] = [b for b in plain["buildings"] if b["id"] == building_id]
    [b_gcj] = [b for b in shown["buildings"] if b["id"] == building_id]
    assert (b_gcj["lat"], b_gcj["lng"]) == from_wgs84(b_wgs["lat"], b_wgs["lng"], "gcj02")
    [c_gcj] = [c for c in shown["cases"] if c["id"] == case["id"]]
    assert c_gcj["coord_system"] == "gcj02" and abs(c_gcj["lng"] - point[1]) > 0.002
    ring = shown["cells"][0]["boundary"]["coordinates"][0]
    assert abs(ring[0][0] - cell["boundary"]["coordinates"][0][0][0]) > 0.002
