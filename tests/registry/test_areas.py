"""The area tree: codes that explain themselves, a profile per community, and figures summed
over any subtree."""

from __future__ import annotations

from tests.factories import STREET_A
from tests.support import assert_problem, make_id_number


async def test_kind_is_derived_from_the_code_and_never_refuses_one(api, base_areas):
    # A villagers' committee (村委会, segment 2xx) under a street (街道): an urban village.
    r = await api.admin.post(
        "/api/v1/registry/areas", json={"code": "410105001201", "name": "城中村"}
    )
    assert r.status_code in (201, 409), r.text
    area = (await api.admin.get("/api/v1/registry/areas/410105001201")).json()
    assert (area["level"], area["kind"], area["parent_code"]) == ("community", "village", STREET_A)
    # A town (镇, segment 1xx) and a community (居委会) under it.
    for code, name in (("410105100000", "某镇"), ("410105100001", "镇上社区")):
        r = await api.admin.post("/api/v1/registry/areas", json={"code": code, "name": name})
        assert r.status_code in (201, 409), r.text
    town = (await api.admin.get("/api/v1/registry/areas/410105100000")).json()
    assert (town["level"], town["kind"]) == ("street", "town")
    assert (await api.admin.get("/api/v1/registry/areas/410105100001")).json()[
        "kind"
    ] == "community"


async def test_bad_codes_name_the_field(api, base_areas):
    r = await api.admin.post("/api/v1/registry/areas", json={"code": "41010500100", "name": "x"})
    assert assert_problem(r, 422)["errors"][0]["field"] == "code"
    r = await api.admin.post("/api/v1/registry/areas", json={"code": "000000000000", "name": "x"})
    assert assert_problem(r, 422)["errors"][0]["field"] == "code"
    assert_problem(
        await api.admin.post(
            "/api/v1/registry/areas", json={"code": base_areas["home"], "name": "再来"}
        ),
        409,
        "area.exists",
    )


async def test_only_the_platform_creates_a_root_and_a_street_only_below_itself(api, base_areas):
    r = await api.street.post(
        "/api/v1/registry/areas", json={"code": "420105000000", "name": "别处"}
    )
    assert_problem(r, 403, "area.root_not_allowed")
    r = await api.street.post(
        "/api/v1/registry/areas", json={"code": "410105002150", "name": "隔壁"}
    )
    assert_problem(r, 404)
    r = await api.street.post(
        "/api/v1/registry/areas", json={"code": "410105001150", "name": "新社区"}
    )
    assert r.status_code in (201, 409), r.text


async def test_a_community_admin_edits_its_profile_with_units(api, base_areas):
    r = await api.community.patch(
        f"/api/v1/registry/areas/{base_areas['home']}",
        json={"office_area_m2": 350.5, "full_time_staff": 9, "annual_funding_yuan": 180000},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert float(body["office_area_m2"]) == 350.5 and body["full_time_staff"] == 9
    assert body["units_of_measure"]["office_area_m2"] == "m²"
    # Its street is visible to it, but not editable.
    assert (await api.community.get(f"/api/v1/registry/areas/{STREET_A}")).status_code == 200
    assert_problem(
        await api.community.patch(f"/api/v1/registry/areas/{STREET_A}", json={"name": "x"}), 404
    )
    r = await api.community.patch(
        f"/api/v1/registry/areas/{base_areas['home']}", json={"full_time_staff": -1}
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "full_time_staff"


async def test_an_area_outside_scope_is_a_404(api, base_areas):
    assert_problem(await api.community.get("/api/v1/registry/areas/410105002001"), 404)
    listed = (
        await api.community.get("/api/v1/registry/areas", params={"level": "community"})
    ).json()
    assert {a["code"] for a in listed["items"]} == {base_areas["home"]}


async def test_a_street_equals_the_sum_of_its_communities(api, new_community):
    one, two = await new_community(), await new_community()
    for community, count, party in ((one, 3, 1), (two, 2, 2)):
        for i in range(count):
            tags = ["party_member"] if i < party else []
            r = await api.admin.post(
                "/api/v1/registry/residents",
                json={
                    "name": "居民",
                    "id_number": make_id_number(seq=None),
                    "community_code": community,
                    "residence_type": "floating" if i == 0 else "registered",
                    "tags": tags,
                },
            )
            assert r.status_code == 201, r.text
    street = (await api.admin.get(f"/api/v1/registry/areas/{STREET_A}/children/stats")).json()
    children = {c["code"]: c for c in street["children"]}
    assert children[one]["residents"] == 3 and children[two]["residents"] == 2
    assert children[one]["party_members"] == 1 and children[two]["party_members"] == 2
    assert children[one]["by_residence_type"] == {"registered": 2, "permanent": 0, "floating": 1}
    for figure in ("residents", "households", "party_members", "minors"):
        assert street["area"][figure] == sum(c[figure] for c in street["children"]), figure
    single = (await api.admin.get(f"/api/v1/registry/areas/{STREET_A}/stats")).json()
    assert single == street["area"]
    district = (
        await api.admin.get(
            "/api/v1/registry/areas/410105000000/children/stats", params={"level": "community"}
        )
    ).json()
    assert {c["code"] for c in district["children"]} >= {one, two}
    assert district["area"]["residents"] == sum(c["residents"] for c in district["children"])


async def test_the_running_counts_agree_with_a_recount(api, new_community):
    """Creates, edits, move-outs and imports keep the counts behind the statistics exact."""
    community = await new_community()
    made = []
    for i in range(4):
        r = await api.admin.post(
            "/api/v1/registry/residents",
            json={
                "name": f"居民{i}",
                "id_number": make_id_number(),
                "community_code": community,
                "tags": ["party_member"] if i % 2 else [],
                "residence_type": "floating",
            },
        )
        made.append(r.json()["id"])
    await api.admin.patch(
        f"/api/v1/registry/residents/{made[0]}",
        json={"residence_type": "registered", "tags": ["elderly"]},
    )
    await api.admin.post(
        f"/api/v1/registry/residents/{made[1]}/move-out",
        json={"moved_out_on": "2026-11-01", "reason": "迁出"},
    )
    before = (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()
    assert before["residents"] == 3
    assert before["by_residence_type"] == {"registered": 1, "permanent": 0, "floating": 2}
    assert before["tags"] == {"elderly": 1, "party_member": 1}
    rebuilt = (await api.admin.post(f"/api/v1/registry/areas/{community}/recount")).json()
    assert rebuilt == before
    assert_problem(await api.street.post(f"/api/v1/registry/areas/{community}/recount"), 403)
