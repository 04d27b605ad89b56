"""Input a phone or a fuzzer may send that no form would: every one is a 4xx problem that
names what is wrong, never a 500."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support import assert_problem


def _cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# No list's sort key can be any of these: each must be a 4xx.
MALFORMED = [
    _cursor(v) for v in ([[1]], [{"a": 1}], ["x", "y", "z", "w"], [10**30], None, [None])
] + [
    "W1sxXV0",  # [[1]], as the outside review sent it
    "not-base64-%%%",
    "AAAA",
]
# These may be a sort key of some list (a string id): any answer but a 5xx.
ODD = [_cursor(v) for v in (["2026-13-45"], [True], ["\u0000"], [1.5])]


def list_operations(doc: dict) -> list[str]:
    """Every GET in the merged document that pages with ``cursor``."""
    paths = []
    for path, operations in doc["paths"].items():
        get = operations.get("get")
        if get and any(p["name"] == "cursor" for p in get.get("parameters", [])):
            paths.append(path)
    return sorted(paths)


@pytest.fixture(scope="module")
async def paged(client):
    doc = (await client.get("/openapi.json")).json()
    paths = list_operations(doc)
    assert len(paths) >= 15, paths  # the platform's lists, merged from every service
    return paths


async def test_a_forged_cursor_is_a_400_on_every_list(api, paged, base_areas):
    failures = []
    for path in paged:
        url = path.replace("{", "").replace("}", "")  # any id: the cursor is read first or 404
        for cursor in MALFORMED + ODD:
            params = {"cursor": cursor, "community": "410105001001", "area": "410105001001"}
            r = await api.admin.get(url, params=params)
            if r.status_code >= 500 or (cursor in MALFORMED and r.status_code < 400):
                failures.append((path, cursor, r.status_code, r.text[:200]))
            elif r.status_code == 400 and r.json()["errors"][0]["field"] != "cursor":
                failures.append((path, cursor, "field not named", r.text[:200]))
    assert not failures, failures


async def test_a_nul_character_is_a_422_naming_the_field(api, base_areas):
    """PostgreSQL cannot keep a NUL in text; before the guard it answered 500 from inside
    the query, even to the unauthenticated login."""
    r = await api.anon.post("/api/v1/auth/token", json={"username": "a\u0000b", "password": "x"})
    assert assert_problem(r, 422, "validation.nul_character")["errors"][0]["field"] == "username"
    r = await api.admin.post(
        "/api/v1/registry/areas", json={"code": "410105009001", "name": "坏\u0000名"}
    )
    body = assert_problem(r, 422, "validation.nul_character")
    assert body["errors"][0]["field"] == "name"
    r = await api.admin.get("/api/v1/registry/residents", params={"q": "黄\u0000"})
    assert assert_problem(r, 422)["errors"][0]["field"] == "q"
    r = await api.admin.post(
        "/api/v1/assessment/meetings",
        json={"community_code": "410105001001", "decisions": ["ok", "bad\u0000"]},
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "decisions[1]"
    # a backslash and "u0000" typed as text is no NUL, and is kept as typed
    r = await api.admin.post(
        "/api/v1/registry/areas", json={"code": "410105009002", "name": "路径\\u0000说明"}
    )
    assert r.status_code in (201, 409), r.text


async def test_periods_at_the_edge_of_the_calendar_are_a_422(api, base_areas):
    for path, params in (
        ("/api/v1/assessment/scores", {"area": "410105001000", "period": "9999Q4"}),
        ("/api/v1/assessment/scores", {"area": "410105001000", "period": "0000"}),
        ("/api/v1/grid/cases/kpis", {"area": "410105001000", "period": "9999"}),
        ("/api/v1/grid/cases/kpis", {"area": "410105001000", "period": "0000H1"}),
    ):
        r = await api.admin.get(path, params=params)
        assert assert_problem(r, 422)["errors"][0]["field"] == "period", (path, params)


async def test_an_area_code_in_another_script_is_refused_not_stored(api, base_areas):
    r = await api.admin.post(
        "/api/v1/registry/areas", json={"code": "٤١٠١٠٥٠٠١٠٩٧", "name": "阿拉伯数字"}
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "code"


async def test_null_for_any_field_of_a_patch_is_never_a_500(api, new_community, spot):
    """A partial update may leave a field out; sending null for a field that cannot be
    empty is a 422 naming it (it reached the database's NOT NULL before), and a null that is
    accepted is what the record then holds (a unit's facilities were emptied by one)."""
    from tests.factories import activity, make_cell, populate, unit

    community = await new_community()
    cell = await make_cell(api, community, *spot)
    _, households, residents = await populate(api, cell, (spot[0] + 0.001, spot[1] + 0.001))
    building = (await api.admin.get(f"/api/v1/registry/households/{households[0]}")).json()
    made = await api.admin.post(
        "/api/v1/registry/units",
        json=unit(community),
    )
    assert made.status_code == 201, made.text
    event = await activity(api, community)
    doc = (await api.admin.get("/openapi.json")).json()
    targets = {
        f"/api/v1/registry/areas/{community}": "/api/v1/registry/areas/{code}",
        f"/api/v1/registry/buildings/{building['building_id']}": (
            "/api/v1/registry/buildings/{building_id}"
        ),
        f"/api/v1/registry/households/{households[0]}": (
            "/api/v1/registry/households/{household_id}"
        ),
        f"/api/v1/registry/residents/{residents[0]}": "/api/v1/registry/residents/{resident_id}",
        f"/api/v1/grid/cells/{cell['code']}": "/api/v1/grid/cells/{code}",
        f"/api/v1/registry/units/{made.json()['id']}": "/api/v1/registry/units/{unit_id}",
        f"/api/v1/volunteer/activities/{event['id']}": (
            "/api/v1/volunteer/activities/{activity_id}"
        ),
    }
    failures = []
    for url, template in targets.items():
        ref = doc["paths"][template]["patch"]["requestBody"]["content"]["application/json"]
        name = ref["schema"]["$ref"].rsplit("/", 1)[-1]
        for field in doc["components"]["schemas"][name]["properties"]:
            r = await api.admin.patch(url, json={field: None})
            if r.status_code >= 500 or (r.status_code == 422 and not r.json()["errors"]):
                failures.append((template, field, r.status_code, r.text[:120]))
            elif r.status_code == 200 and r.json().get(field, None) is not None:
                failures.append((template, field, "null taken but not kept", r.text[:120]))
    assert not failures, failures
