"""Buildings on the map: stored in WGS-84, answered in the system the phone's map speaks."""

from __future__ import annotations

from pytest import approx

from services.common.geo import from_wgs84
from tests.support import assert_problem


async def test_a_building_is_read_back_in_the_coordinate_system_asked_for(api, new_community):
    """A community worker registers a building at a WGS-84 point; a phone showing it on a
    Tencent or AMap map asks for GCJ-02 and gets the GCJ-02 point, saying so; without the
    parameter the answer is the WGS-84 point."""
    community = await new_community()
    lat, lng = 34.7466, 113.6253
    r = await api.admin.post(
        "/api/v1/registry/buildings",
        json={"community_code": community, "name": "3号楼", "lat": lat, "lng": lng},
    )
    assert r.status_code == 201, r.text
    url = f"/api/v1/registry/buildings/{r.json()['id']}"
    gcj_lat, gcj_lng = from_wgs84(lat, lng, "gcj02")
    assert (gcj_lat, gcj_lng) != approx((lat, lng), abs=1e-4)  # the shift is real here

    plain = (await api.street.get(url)).json()
    assert (plain["lat"], plain["lng"], plain["coord_system"]) == (
        approx(lat),
        approx(lng),
        "wgs84",
    )
    gcj = (await api.street.get(url, params={"coord_system": "gcj02"})).json()
    assert (gcj["lat"], gcj["lng"], gcj["coord_system"]) == (
        approx(gcj_lat),
        approx(gcj_lng),
        "gcj02",
    )

    listed = (
        await api.street.get(
            "/api/v1/registry/buildings", params={"community": community, "coord_system": "gcj02"}
        )
    ).json()["items"]
    assert [(b["lat"], b["lng"], b["coord_system"]) for b in listed] == [
        (approx(gcj_lat), approx(gcj_lng), "gcj02")
    ]
    listed = (
        await api.street.get("/api/v1/registry/buildings", params={"community": community})
    ).json()["items"]
    assert [(b["lat"], b["lng"], b["coord_system"]) for b in listed] == [
        (approx(lat), approx(lng), "wgs84")
    ]


async def test_a_building_without_a_place_says_so_in_any_system(api, new_community):
    community = await new_community()
    r = await api.admin.post(
        "/api/v1/registry/buildings", json={"community_code": community, "name": "无坐标楼"}
    )
    gcj = (
        await api.admin.get(
            f"/api/v1/registry/buildings/{r.json()['id']}", params={"coord_system": "gcj02"}
        )
    ).json()
    assert (gcj["lat"], gcj["lng"], gcj["coord_system"]) == (None, None, "gcj02")


async def test_an_unknown_coordinate_system_names_the_parameter(api, new_community):
    community = await new_community()
    r = await api.admin.post(
        "/api/v1/registry/buildings", json={"community_code": community, "name": "5号楼"}
    )
    r = await api.admin.get(
        f"/api/v1/registry/buildings/{r.json()['id']}", params={"coord_system": "bd09"}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "coord_system"


async def test_every_answer_carrying_a_building_honours_the_system(api, new_community):
    """The create and edit answers, and the registry part of a grid worker's sync, give the
    point in GCJ-02 when asked."""
    community = await new_community()
    lat, lng = 34.7512, 113.6311
    gcj = approx(from_wgs84(lat, lng, "gcj02"))
    r = await api.admin.post(
        "/api/v1/registry/buildings",
        params={"coord_system": "gcj02"},
        json={"community_code": community, "name": "7号楼", "lat": lat, "lng": lng},
    )
    assert r.status_code == 201, r.text
    assert ((r.json()["lat"], r.json()["lng"]), r.json()["coord_system"]) == (gcj, "gcj02")
    building_id = r.json()["id"]
    cell = f"{community}001"
    r = await api.admin.patch(
        f"/api/v1/registry/buildings/{building_id}",
        params={"coord_system": "gcj02"},
        json={"cell_code": cell},
    )
    assert ((r.json()["lat"], r.json()["lng"]), r.json()["coord_system"]) == (gcj, "gcj02")
    r = await api.admin.get(
        "/api/v1/registry/sync",
        params={"cells": cell, "until": "2100-01-01T00:00:00+08:00", "coord_system": "gcj02"},
    )
    assert r.status_code == 200, r.text
    [synced] = r.json()["buildings"]
    assert ((synced["lat"], synced["lng"]), synced["coord_system"]) == (gcj, "gcj02")


async def test_the_cells_of_a_count_or_a_sync_are_ascii_codes_and_commas(api):
    """Found by schemathesis: ``cells`` took any 20,000 characters, and 20,000 non-ASCII ones
    make a request line of 120 KB that uvicorn refuses with a bare text/plain 400, an answer
    the document does not promise. Cell codes are ASCII digits, so ``cells`` stays within
    20 KB."""
    until = "2100-01-01T00:00:00+08:00"
    for cells in ("ã" * 5_000, "４１０１０５００１００１００１", "410105001001001;1"):
        for path, params in (
            ("/api/v1/registry/cell-counts", {"cells": cells}),
            ("/api/v1/registry/sync", {"cells": cells, "until": until}),
        ):
            problem = assert_problem(await api.admin.get(path, params=params), 422)
            assert [e["field"] for e in problem["errors"]] == ["cells"], (path, cells[:20])
    r = await api.admin.get(
        "/api/v1/registry/cell-counts", params={"cells": "410105001001001,410105001001002,"}
    )
    assert r.status_code == 200, r.text
