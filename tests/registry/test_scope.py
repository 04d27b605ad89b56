"""Every list and every get of the registry answers only within the caller's scope: a
record outside it is as if it did not exist."""

from __future__ import annotations

from tests.conftest import STREET_A, STREET_B


async def building_in_cell(api, community: str, cell: str) -> str:
    """A building of ``community`` placed in grid cell ``cell``, with one household."""
    r = await api.admin.post(
        "/api/v1/registry/buildings", json={"community_code": community, "name": "1号楼"}
    )
    assert r.status_code == 201, r.text
    building_id = r.json()["id"]
    r = await api.admin.patch(f"/api/v1/registry/buildings/{building_id}", json={"cell_code": cell})
    assert r.status_code == 200, r.text
    r = await api.admin.post(
        "/api/v1/registry/households", json={"building_id": building_id, "door_no": "101"}
    )
    assert r.status_code == 201, r.text
    return building_id


async def test_a_street_admin_gets_no_counts_for_a_cell_of_another_street(api, new_community):
    """demo-street (scope 410105001) asks the counts of a cell of a community in street B
    (410105002xxx): that cell is not answered; a cell of its own street is."""
    theirs = f"{await new_community(STREET_B)}001"
    ours = f"{await new_community(STREET_A)}001"
    await building_in_cell(api, theirs[:12], theirs)
    await building_in_cell(api, ours[:12], ours)

    r = await api.street.get("/api/v1/registry/cell-counts", params={"cells": theirs})
    assert r.status_code == 200, r.text
    assert r.json() == []
    r = await api.street.get("/api/v1/registry/cell-counts", params={"cells": f"{theirs},{ours}"})
    assert r.json() == [{"cell_code": ours, "buildings": 1, "households": 1, "residents": 0}]
    # The platform reaches both.
    r = await api.admin.get("/api/v1/registry/cell-counts", params={"cells": f"{theirs},{ours}"})
    assert [(c["cell_code"], c["buildings"]) for c in r.json()] == [(theirs, 1), (ours, 1)]
