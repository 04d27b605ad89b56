"""Resident units: credit codes checked, facilities listed, contacts masked."""

from __future__ import annotations

from tests.factories import credit_code, unit
from tests.support import assert_problem


async def test_a_unit_with_facilities_and_a_masked_contact(api, base_areas):
    r = await api.community.post("/api/v1/registry/units", json=unit(base_areas["home"]))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["contact_phone"] == "139****5678"
    assert body["facilities"][0]["name"] == "篮球场"
    assert body["warnings"] == []


async def test_a_declared_category_unlike_the_code_is_a_warning(api, base_areas):
    r = await api.community.post(
        "/api/v1/registry/units",
        json=unit(base_areas["home"], uscc=credit_code("12"), category="enterprise"),
    )
    assert r.status_code == 201
    assert r.json()["warnings"][0]["code"] == "uscc_category_mismatch"


async def test_a_bad_credit_code_names_the_field(api, base_areas):
    code = credit_code()
    broken = code[:17] + ("0" if code[17] != "0" else "1")
    r = await api.community.post(
        "/api/v1/registry/units", json=unit(base_areas["home"], uscc=broken)
    )
    body = assert_problem(r, 422, "validation.uscc_invalid")
    assert body["errors"][0]["field"] == "uscc"
    dup = unit(base_areas["home"])
    assert (await api.community.post("/api/v1/registry/units", json=dup)).status_code == 201
    assert_problem(await api.community.post("/api/v1/registry/units", json=dup), 409, "unit.exists")


async def test_a_unit_contact_sees_only_its_own_unit(api, base_areas):
    mine = (
        await api.community.post("/api/v1/registry/units", json=unit(base_areas["home"]))
    ).json()
    other = (
        await api.community.post("/api/v1/registry/units", json=unit(base_areas["home"]))
    ).json()
    username = f"unit{mine['id'][-8:]}"
    r = await api.community.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": "unit-pass-1",
            "role": "unit_contact",
            "scope": [base_areas["home"]],
            "unit_id": mine["id"],
        },
    )
    assert r.status_code == 201, r.text
    contact = await api.login(username, "unit-pass-1")
    assert (await contact.get(f"/api/v1/registry/units/{mine['id']}")).status_code == 200
    assert_problem(await contact.get(f"/api/v1/registry/units/{other['id']}"), 404)
    listed = (await contact.get("/api/v1/registry/units")).json()
    assert [u["id"] for u in listed["items"]] == [mine["id"]]
    r = await contact.patch(f"/api/v1/registry/units/{mine['id']}", json={"party_member_count": 12})
    assert r.status_code == 200 and r.json()["party_member_count"] == 12
