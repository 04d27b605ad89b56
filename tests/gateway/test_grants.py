"""What an admin may hand down: accounts inside their own scope, bound to units inside it,
with only the extra permissions their role may grant to that role — and a refusal that
names what was refused, never a silent drop."""

from __future__ import annotations

from tests.factories import STREET_B, credit_code
from tests.support import assert_problem, unique


def grid_worker(**extra) -> dict:
    return {
        "username": unique("gw"),
        "password": "grid-pass-1",
        "role": "grid_worker",
        "scope": ["410105001001"],
        **extra,
    }


async def test_a_street_admin_cannot_grant_personal_data_audit_or_accounts(api):
    r = await api.street.post(
        "/api/v1/users",
        json=grid_worker(extra_permissions=["pii:read", "audit:read", "users:write"]),
    )
    body = assert_problem(r, 422, "validation.permission_not_grantable")
    refused = {e["message"] for e in body["errors"]}
    assert all(e["field"] == "extra_permissions" for e in body["errors"])
    assert len(refused) == 3 and any("pii:read" in m for m in refused)


async def test_an_unknown_permission_is_named_not_dropped(api):
    r = await api.admin.post("/api/v1/users", json=grid_worker(extra_permissions=["*"]))
    body = assert_problem(r, 422)
    assert body["errors"][0]["code"] == "permission_unknown" and "*" in body["errors"][0]["message"]


async def test_a_grant_the_table_allows_reaches_the_token(api):
    body = grid_worker(extra_permissions=["grid:dispatch"])
    r = await api.street.post("/api/v1/users", json=body)
    assert r.status_code == 201, r.text
    worker = await api.login(body["username"], body["password"])
    me = (await worker.get("/api/v1/me")).json()
    assert "grid:dispatch" in me["permissions"] and "pii:read" not in me["permissions"]


async def test_a_unit_contact_cannot_be_bound_to_a_unit_of_another_street(api, new_community):
    elsewhere = await new_community(STREET_B, "花园路单位社区")
    unit = await api.admin.post(
        "/api/v1/registry/units",
        json={
            "name": "另一街道的单位",
            "uscc": credit_code(),
            "category": "enterprise",
            "community_code": elsewhere,
        },
    )
    assert unit.status_code == 201, unit.text
    # the street admin, and even the platform admin: a contact is bound only to a unit
    # inside the new account's scope
    for creator in (api.street, api.admin):
        r = await creator.post(
            "/api/v1/users",
            json={
                "username": unique("uc"),
                "password": "unit-pass-1",
                "role": "unit_contact",
                "scope": ["410105001001"],
                "unit_id": unit.json()["id"],
            },
        )
        assert assert_problem(r, 422)["errors"][0]["field"] == "unit_id"
