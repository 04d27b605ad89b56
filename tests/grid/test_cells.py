"""Cells on the map: drawn, checked, found from a point, and placed around buildings."""

from __future__ import annotations

from services.common.geo import from_wgs84, to_wgs84
from tests.factories import STREET_B, make_cell, setup_cell, square
from tests.support import assert_problem, changes_of


async def test_a_cell_gets_the_next_code_and_an_overlap_is_refused(api, new_community, spot):
    community = await new_community()
    lat, lng = spot
    first = await make_cell(api, community, lat, lng)
    assert first["code"] == community + "001"
    second = await make_cell(api, community, lat, lng + 0.002)  # shares an edge: allowed
    assert second["code"] == community + "002"
    r = await api.admin.post(
        "/api/v1/grid/cells",
        json={
            "community_code": community,
            "name": "重叠",
            "boundary": square(lat + 0.001, lng + 0.001),
        },
    )
    body = assert_problem(r, 409, "cell.overlaps")
    assert body["overlaps"] == [first["code"], second["code"]]
    assert body["errors"][0]["field"] == "boundary"


async def test_bad_boundaries_name_the_field(api, new_community, spot):
    community = await new_community()
    lat, lng = spot
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [
                [lng, lat],
                [lng + 0.002, lat + 0.002],
                [lng + 0.002, lat],
                [lng, lat + 0.002],
                [lng, lat],
            ]
        ],
    }
    for boundary, code in (
        (bowtie, "validation.boundary_invalid"),
        (square(48.85, 2.35), "validation.outside_china"),
        ({"type": "Point", "coordinates": [lng, lat]}, "validation.boundary_type"),
    ):
        r = await api.admin.post(
            "/api/v1/grid/cells",
            json={"community_code": community, "name": "x", "boundary": boundary},
        )
        assert assert_problem(r, 422, code)["errors"][0]["field"] == "boundary"
    r = await api.admin.post(
        "/api/v1/grid/cells",
        json={"community_code": "410105001999", "name": "x", "boundary": square(lat, lng)},
    )
    assert_problem(r, 422, "validation.area_not_found")


async def test_a_point_locates_to_its_cell_in_both_coordinate_systems(api, new_community, spot):
    community = await new_community()
    lat, lng = spot
    cell = await make_cell(api, community, lat, lng, size=0.004)
    inside = (lat + 0.002, lng + 0.002)
    r = await api.street.get("/api/v1/grid/locate", params={"lat": inside[0], "lng": inside[1]})
    assert r.json()["code"] == cell["code"]
    g_lat, g_lng = from_wgs84(*inside, "gcj02")  # what the phone's map shows for the same spot
    r = await api.street.get(
        "/api/v1/grid/locate", params={"lat": g_lat, "lng": g_lng, "coord_system": "gcj02"}
    )
    assert r.json()["code"] == cell["code"]
    # Near the edge, the GCJ-02 twin of a WGS-84 point lands in the same cell.
    edge = (lat + 0.00002, lng + 0.002)
    g = from_wgs84(*edge, "gcj02")
    a = await api.street.get("/api/v1/grid/locate", params={"lat": edge[0], "lng": edge[1]})
    b = await api.street.get(
        "/api/v1/grid/locate", params={"lat": g[0], "lng": g[1], "coord_system": "gcj02"}
    )
    assert a.json()["code"] == b.json()["code"] == cell["code"]
    far = await api.street.get("/api/v1/grid/locate", params={"lat": lat - 0.005, "lng": lng})
    assert_problem(far, 404, "cell.none_here")


async def test_a_point_on_a_shared_edge_belongs_to_the_smaller_code(api, new_community, spot):
    community = await new_community()
    lat, lng = spot
    west = await make_cell(api, community, lat, lng)
    east = await make_cell(api, community, lat, lng + 0.002)
    r = await api.street.get("/api/v1/grid/locate", params={"lat": lat + 0.001, "lng": lng + 0.002})
    assert r.json()["code"] == min(west["code"], east["code"])


async def test_gcj02_boundaries_are_stored_as_wgs84_and_shown_either_way(api, new_community, spot):
    community = await new_community()
    lat, lng = spot
    g_lat, g_lng = from_wgs84(lat, lng, "gcj02")
    cell = await make_cell(api, community, g_lat, g_lng, coord_system="gcj02")
    stored = cell["boundary"]["coordinates"][0][0]
    assert abs(stored[1] - lat) < 1e-6 and abs(stored[0] - lng) < 1e-6
    shown = (
        await api.admin.get(f"/api/v1/grid/cells/{cell['code']}", params={"coord_system": "gcj02"})
    ).json()
    corner = shown["boundary"]["coordinates"][0][0]
    assert abs(corner[1] - g_lat) < 1e-6 and abs(corner[0] - g_lng) < 1e-6


async def test_buildings_are_placed_in_cells_either_way_round(api, new_community, spot):
    community = await new_community()
    lat, lng = spot
    before = await api.admin.post(
        "/api/v1/registry/buildings",
        json={
            "community_code": community,
            "name": "先有楼",
            "lat": lat + 0.001,
            "lng": lng + 0.001,
        },
    )
    assert before.json()["cell_code"] is None
    cell = await make_cell(api, community, lat, lng)
    again = await api.admin.get(f"/api/v1/registry/buildings/{before.json()['id']}")
    assert again.json()["cell_code"] == cell["code"]
    after = await api.admin.post(
        "/api/v1/registry/buildings",
        json={
            "community_code": community,
            "name": "后有楼",
            "lat": lat + 0.0015,
            "lng": lng + 0.0005,
        },
    )
    assert after.json()["cell_code"] == cell["code"]
    assert (await api.admin.delete(f"/api/v1/grid/cells/{cell['code']}")).status_code == 204
    assert (await api.admin.get(f"/api/v1/registry/buildings/{before.json()['id']}")).json()[
        "cell_code"
    ] is None
    # Each placement is in the building's history, by the grid, not by a blank.
    r = await api.admin.get(f"/api/v1/registry/buildings/{before.json()['id']}/history")
    assert r.status_code == 200, r.text
    placed = [e for e in r.json()["items"] if e["action"] == "cell_assigned"]
    assert [changes_of(e) for e in placed] == [
        [{"field": "cell_code", "old": cell["code"], "new": None}],
        [{"field": "cell_code", "old": None, "new": cell["code"]}],
    ]
    assert all(e["actor_name"] == "网格自动划分" and e["at"].endswith("+08:00") for e in placed)
    assert {e["action_name"] for e in placed} == {"调整所属网格"}


async def test_members_make_a_workers_scope_their_cells(api, new_community, spot, worker):
    community = await new_community()
    lat, lng = spot
    cell = await make_cell(api, community, lat, lng)
    user_id, username = await worker(community)
    r = await api.admin.put(
        f"/api/v1/grid/cells/{cell['code']}/members", json={"workers": [user_id], "leader": user_id}
    )
    assert r.status_code == 200, r.text
    assert r.json()["members"] == [{"user_id": user_id, "role": "leader", "display_name": username}]
    me = (await (await api.login(username, "grid-pass-1")).get("/api/v1/me")).json()
    assert me["scope"] == [cell["code"]]
    street_admin = (await api.admin.get("/api/v1/users", params={"limit": 1})).json()["items"][0][
        "id"
    ]
    r = await api.admin.put(
        f"/api/v1/grid/cells/{cell['code']}/members", json={"workers": [street_admin]}
    )
    assert_problem(r, 422)


async def test_cells_outside_scope_are_404(api, spot, base_areas):
    lat, lng = spot
    r = await api.admin.post(
        "/api/v1/grid/cells",
        json={"community_code": "410105002001", "name": "别处", "boundary": square(lat, lng)},
    )
    code = r.json()["code"]
    assert_problem(await api.community.get(f"/api/v1/grid/cells/{code}"), 404)
    assert_problem(await api.community.patch(f"/api/v1/grid/cells/{code}", json={"name": "y"}), 404)


def test_gcj02_conversion_matches_known_pairs():
    # Beijing, Tiananmen: the offset is several hundred metres, and the inverse returns.
    g = from_wgs84(39.909, 116.397, "gcj02")
    assert abs(g[0] - 39.91040) < 1e-4 and abs(g[1] - 116.40324) < 1e-4
    back = to_wgs84(*g, "gcj02")
    assert abs(back[0] - 39.909) < 1e-7 and abs(back[1] - 116.397) < 1e-7
    # Zhengzhou
    g = from_wgs84(34.7466, 113.6253, "gcj02")
    assert abs(g[0] - 34.7452) < 5e-4 and abs(g[1] - 113.6313) < 5e-4


async def test_a_worker_taken_off_their_last_cell_no_longer_reaches_it(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    assert (await grid.get(f"/api/v1/grid/cells/{cell['code']}")).status_code == 200
    r = await api.admin.put(f"/api/v1/grid/cells/{cell['code']}/members", json={"workers": []})
    assert r.status_code == 200, r.text
    # the token on the phone, which still says the cell, stops at once
    assert_problem(await grid.get(f"/api/v1/grid/cells/{cell['code']}"), 401, "auth.token_revoked")
    grid = await api.login(grid.username, "grid-pass-1")
    me = (await grid.get("/api/v1/me")).json()
    assert me["scope"] == []
    assert_problem(await grid.get(f"/api/v1/grid/cells/{cell['code']}"), 404)
    assert (await grid.get("/api/v1/registry/residents")).json()["items"] == []


async def test_locate_names_no_cell_outside_the_callers_scope(api, new_community, spot):
    elsewhere = await new_community(STREET_B, "花园路网格社区")
    lat, lng = spot
    cell = await make_cell(api, elsewhere, lat, lng)
    point = {"lat": lat + 0.001, "lng": lng + 0.001}
    found = await api.admin.get("/api/v1/grid/locate", params=point)
    assert found.json()["code"] == cell["code"]
    assert_problem(await api.street.get("/api/v1/grid/locate", params=point), 404)
    counts = await api.street.get("/api/v1/registry/cell-counts", params={"cells": cell["code"]})
    assert counts.status_code == 200 and counts.json() == []


async def test_an_unclosed_ring_is_refused_not_closed_silently(api, new_community, spot):
    community = await new_community()
    lat, lng = spot
    ring = square(lat, lng)["coordinates"][0][:-1]  # the last corner is not the first
    r = await api.admin.post(
        "/api/v1/grid/cells",
        json={
            "community_code": community,
            "name": "未闭合",
            "boundary": {"type": "Polygon", "coordinates": [ring]},
        },
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "boundary"
    assert body["errors"][0]["code"] == "boundary_ring_unclosed"
