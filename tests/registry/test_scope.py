"""Every list and every get of the registry answers only within the caller's scope: a
record outside it is as if it did not exist."""

from __future__ import annotations

import csv
import io

from services.common.auth import issue_access_token, permissions_for
from tests.factories import HOME, STREET_A, STREET_B
from tests.support import assert_problem, make_id_number, unique


def roster_csv(*rows: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["姓名", "身份证号", "手机号", "社区代码"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


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


async def test_a_community_worker_places_a_building_only_in_a_cell_of_its_own(
    api, base_areas, new_community
):
    """Placing a building in another community's cell would put it, and its households, on
    that cell's grid workers' phones and in its counts: the cell must be within reach."""
    r = await api.community.post(
        "/api/v1/registry/buildings", json={"community_code": base_areas["home"], "name": "8号楼"}
    )
    url = f"/api/v1/registry/buildings/{r.json()['id']}"
    elsewhere = f"{await new_community(STREET_B)}001"
    r = await api.community.patch(url, json={"cell_code": elsewhere})
    assert assert_problem(r, 422, "validation.not_found")["errors"][0]["field"] == "cell_code"
    assert (await api.community.get(url)).json()["cell_code"] is None
    r = await api.community.patch(url, json={"cell_code": f"{base_areas['home']}901"})
    assert r.status_code == 200 and r.json()["cell_code"] == f"{base_areas['home']}901"


async def test_an_import_is_read_only_by_its_author_and_those_above_it(api, settings):
    """An import job keeps the rows it refused, ID numbers and all. An account without any
    scope left (a grid worker between cells, given the import permission) imports a file:
    the job is its own, and no other importer reads it."""
    token, _ = issue_access_token(
        settings,
        user_id=unique("u"),
        roles=["grid_worker"],
        scope=[],
        permissions=permissions_for(["grid_worker"], ["registry:import"]),
    )
    author = api.as_token(token)
    number = make_id_number()
    r = await author.post(
        "/api/v1/registry/imports",
        data={"kind": "residents"},
        files={"file": ("roster.csv", roster_csv(["张三", number, "", HOME]), "text/csv")},
    )
    assert r.status_code == 202, r.text
    url = f"/api/v1/registry/imports/{r.json()['id']}"
    mine = await author.get(url)
    assert mine.status_code == 200 and mine.json()["failed"] == 1
    assert_problem(await api.street.get(url), 404)
    assert_problem(await api.community.get(url), 404)
    assert_problem(await api.street.get(f"{url}/errors.xlsx"), 404)
    assert (await api.admin.get(url)).status_code == 200
