"""Admins create staff accounts, each only inside its own scope and below its own rank."""

from __future__ import annotations

from tests.support import assert_problem, unique


def account(role: str, scope: list[str], **extra) -> dict:
    return {
        "username": unique("staff"),
        "password": "good-pass-1",
        "role": role,
        "scope": scope,
        **extra,
    }


async def test_street_admin_creates_a_community_admin_inside_its_street(api):
    body = account("community_admin", ["410105001002"])
    r = await api.street.post("/api/v1/users", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["roles"] == ["community_admin"]
    assert created["scope"] == ["410105001002"]
    assert "password" not in created and "password_hash" not in created
    # and the new account can log in
    caller = await api.login(body["username"], body["password"])
    assert (await caller.get("/api/v1/me")).json()["scope"] == ["410105001002"]


async def test_area_codes_are_kept_as_their_significant_prefix(api):
    r = await api.admin.post("/api/v1/users", json=account("street_admin", ["410105002000"]))
    assert r.status_code == 201, r.text
    assert r.json()["scope"] == ["410105002"]


async def test_outside_the_street_is_refused(api):
    r = await api.street.post("/api/v1/users", json=account("community_admin", ["410105002001"]))
    body = assert_problem(r, 403, "auth.out_of_scope")
    assert body["outside"] == ["410105002001"]


async def test_no_one_creates_an_equal_or_higher_rank(api):
    assert_problem(
        await api.street.post("/api/v1/users", json=account("street_admin", ["410105001"])),
        403,
        "user.role_not_allowed",
    )
    assert_problem(
        await api.community.post("/api/v1/users", json=account("street_admin", ["410105001"])),
        403,
        "user.role_not_allowed",
    )


async def test_grid_workers_and_residents_cannot_create_accounts(api):
    assert_problem(
        await api.grid.post("/api/v1/users", json=account("grid_worker", ["410105001001"])),
        403,
        "auth.forbidden",
    )
    resident = await api.resident()
    assert_problem(
        await resident.post("/api/v1/users", json=account("grid_worker", ["410105001001"])),
        403,
    )


async def test_bad_account_fields_name_the_field(api):
    r = await api.admin.post(
        "/api/v1/users", json=account("grid_worker", ["4101x"], password="12345678")
    )
    body = assert_problem(r, 422)
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"password", "scope[0]"}
    r = await api.admin.post("/api/v1/users", json=account("mayor", ["410105"]))
    assert {e["field"] for e in assert_problem(r, 422)["errors"]} == {"role"}
    r = await api.admin.post("/api/v1/users", json=account("unit_contact", ["410105001001"]))
    assert assert_problem(r, 422)["errors"][0]["field"] == "unit_id"


async def test_a_taken_username_is_a_409(api):
    body = account("grid_worker", ["410105001001"])
    assert (await api.admin.post("/api/v1/users", json=body)).status_code == 201
    r = await api.admin.post("/api/v1/users", json=body | {"password": "another-pass"})
    assert_problem(r, 409, "user.username_taken")


async def test_listing_shows_only_accounts_inside_the_callers_scope(api):
    inside = account("grid_worker", ["410105001003"])
    outside = account("grid_worker", ["410105002003"])
    for body in (inside, outside):
        assert (await api.admin.post("/api/v1/users", json=body)).status_code == 201
    seen, cursor = set(), None
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = (await api.street.get("/api/v1/users", params=params)).json()
        seen |= {u["username"] for u in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert inside["username"] in seen
    assert outside["username"] not in seen


async def test_cursor_pages_do_not_overlap(api):
    for _ in range(3):
        await api.admin.post("/api/v1/users", json=account("grid_worker", ["410105001004"]))
    first = (await api.admin.get("/api/v1/users", params={"limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (
        await api.admin.get("/api/v1/users", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert not {u["id"] for u in first["items"]} & {u["id"] for u in second["items"]}
    assert first["items"][-1]["id"] < second["items"][0]["id"]
    assert_problem(
        await api.admin.get("/api/v1/users", params={"cursor": "%%%"}),
        400,
        "pagination.cursor_invalid",
    )
    assert_problem(
        await api.admin.get("/api/v1/users", params={"limit": 101}),
        422,
        "validation.less_than_equal",
    )


async def test_a_user_outside_scope_is_a_404(api):
    r = await api.admin.post("/api/v1/users", json=account("grid_worker", ["410105002009"]))
    user_id = r.json()["id"]
    assert (await api.admin.get(f"/api/v1/users/{user_id}")).status_code == 200
    assert_problem(await api.street.get(f"/api/v1/users/{user_id}"), 404, "resource.not_found")


async def test_a_retried_create_with_the_same_key_creates_one_account(api):
    body = account("grid_worker", ["410105001001"])
    key = {"Idempotency-Key": unique("key")}
    first = await api.community.post("/api/v1/users", json=body, headers=key)
    again = await api.community.post("/api/v1/users", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    reused = await api.community.post(
        "/api/v1/users", json=body | {"display_name": "x"}, headers=key
    )
    assert_problem(reused, 422, "idempotency.key_reused")


async def test_an_error_answer_is_replayed_too(api):
    body = account("street_admin", ["410105001"])
    key = {"Idempotency-Key": unique("key")}
    first = await api.community.post("/api/v1/users", json=body, headers=key)
    again = await api.community.post("/api/v1/users", json=body, headers=key)
    assert first.status_code == again.status_code == 403
    assert first.json() == again.json()


async def test_the_same_key_from_two_users_are_two_requests(api):
    key = {"Idempotency-Key": unique("key")}
    a = await api.community.post(
        "/api/v1/users", json=account("grid_worker", ["410105001001"]), headers=key
    )
    b = await api.street.post(
        "/api/v1/users", json=account("grid_worker", ["410105001001"]), headers=key
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
