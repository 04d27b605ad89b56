"""Residents: validated on the way in, masked on the way out, found only within scope."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from services.common.clock import clock, local_zone
from tests.support import assert_problem, make_id_number, unique


def person(community: str, **extra) -> dict:
    return {"name": "张三", "id_number": make_id_number(), "community_code": community, **extra}


async def test_a_valid_resident_comes_back_masked(api, base_areas):
    number = make_id_number(date(1950, 5, 6), seq=246)
    r = await api.community.post(
        "/api/v1/registry/residents",
        json=person(
            base_areas["home"],
            id_number=number,
            phone="13812345678",
            tags=["elderly", "party_member"],
        ),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id_number_masked"] == number[:6] + "********" + number[-4:]
    assert body["phone"] == "138****5678"
    assert number not in r.text and "13812345678" not in r.text
    assert body["gender"] == "female" and body["birth_date"] == "1950-05-06"
    assert body["tags"] == ["elderly", "party_member"]
    assert body["updated_at"].endswith("+08:00")


async def test_invalid_id_numbers_and_phones_name_the_field(api, base_areas):
    good = make_id_number()
    wrong_digit = good[:17] + ("1" if good[17] != "1" else "2")
    for bad in (wrong_digit, good[:17], "11010519491331002X"):
        r = await api.community.post(
            "/api/v1/registry/residents", json=person(base_areas["home"], id_number=bad)
        )
        body = assert_problem(r, 422, "validation.id_number_invalid")
        assert body["errors"][0]["field"] == "id_number"
        assert "身份证号码无效" in body["errors"][0]["message"]
    r = await api.community.post(
        "/api/v1/registry/residents", json=person(base_areas["home"], phone="12345678901")
    )
    assert assert_problem(r, 422, "validation.phone_invalid")["errors"][0]["field"] == "phone"
    future = make_id_number(date(2099, 1, 1))
    r = await api.community.post(
        "/api/v1/registry/residents",
        json=person(base_areas["home"], id_number=future),
        headers={"Accept-Language": "en"},
    )
    assert "future" in assert_problem(r, 422)["errors"][0]["message"]
    r = await api.community.post(
        "/api/v1/registry/residents", json=person(base_areas["home"], tags=["vip"])
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "tags"


async def test_one_person_is_current_in_one_place(api, base_areas):
    number = make_id_number()
    first = await api.admin.post(
        "/api/v1/registry/residents", json=person("410105002001", id_number=number)
    )
    assert first.status_code == 201
    # The community worker learns the person is registered, not where.
    r = await api.community.post(
        "/api/v1/registry/residents", json=person(base_areas["home"], id_number=number)
    )
    body = assert_problem(r, 409, "resident.already_registered")
    assert "existing_id" not in body
    # Once moved out there, they can be registered here; the old record stays.
    r = await api.admin.post(
        f"/api/v1/registry/residents/{first.json()['id']}/move-out",
        json={"moved_out_on": "2026-10-01", "reason": "迁居"},
    )
    assert r.status_code == 200 and r.json()["status"] == "moved_out"
    r = await api.community.post(
        "/api/v1/registry/residents", json=person(base_areas["home"], id_number=number)
    )
    assert r.status_code == 201, r.text
    old = await api.admin.get(f"/api/v1/registry/residents/{first.json()['id']}")
    assert old.json()["status"] == "moved_out" and old.json()["moved_out_on"] == "2026-10-01"
    assert_problem(
        await api.admin.post(
            f"/api/v1/registry/residents/{first.json()['id']}/move-out",
            json={"moved_out_on": "2026-10-02", "reason": "again"},
        ),
        409,
        "resident.not_current",
    )


async def test_two_counters_registering_one_person_at_once_make_one_current_resident(
    api, base_areas
):
    """A family registers grandmother at the street office and at the community's counter in
    the same minute, each counter's phone retrying: one current resident, every other try a
    409 that says she is registered; moved out, she is registered again."""
    number = make_id_number()
    home, other = base_areas["home"], "410105002001"
    tries = [(api.admin, other)] * 4 + [(api.community, home)] * 4
    answers = await asyncio.gather(
        *(
            caller.post("/api/v1/registry/residents", json=person(community, id_number=number))
            for caller, community in tries
        )
    )
    created = [r for r in answers if r.status_code == 201]
    assert len(created) == 1, [r.text for r in answers]
    for r in answers:
        if r.status_code != 201:
            assert_problem(r, 409, "resident.already_registered")
    rid = created[0].json()["id"]
    r = await api.admin.post(
        f"/api/v1/registry/residents/{rid}/move-out",
        json={"moved_out_on": clock.today().isoformat(), "reason": "迁居"},
    )
    assert r.status_code == 200, r.text
    again = await api.admin.post("/api/v1/registry/residents", json=person(other, id_number=number))
    assert again.status_code == 201, again.text
    found = await api.admin.get(
        "/api/v1/registry/residents", params={"id_number": number, "status": "all"}
    )
    assert found.status_code == 200, found.text
    assert sorted(p["status"] for p in found.json()["items"]) == ["current", "moved_out"]


async def test_a_worker_of_one_community_gets_404_for_another(api, base_areas):
    elsewhere = await api.admin.post("/api/v1/registry/residents", json=person("410105002001"))
    rid = elsewhere.json()["id"]
    assert_problem(await api.community.get(f"/api/v1/registry/residents/{rid}"), 404)
    assert_problem(await api.grid.get(f"/api/v1/registry/residents/{rid}"), 404)
    assert_problem(
        await api.community.patch(f"/api/v1/registry/residents/{rid}", json={"name": "李四"}), 404
    )
    listed = (await api.community.get("/api/v1/registry/residents", params={"limit": 100})).json()
    assert all(r["community_code"].startswith("410105001001") for r in listed["items"])
    # A resident (or a unit contact) reads no registry at all.
    assert_problem(await (await api.resident()).get(f"/api/v1/registry/residents/{rid}"), 403)


async def test_search_by_exact_phone_id_number_name_prefix_and_tag(api, base_areas):
    name = "欧阳" + unique("")[-4:]
    number = make_id_number()
    phone = f"139{unique('')[-8:]:0>8}"
    r = await api.community.post(
        "/api/v1/registry/residents",
        json=person(
            base_areas["home"], name=name, id_number=number, phone=phone, tags=["disabled"]
        ),
    )
    rid = r.json()["id"]

    async def ids(**params):
        page = (await api.community.get("/api/v1/registry/residents", params=params)).json()
        return {x["id"] for x in page["items"]}

    assert await ids(phone=phone) == {rid}
    assert await ids(id_number=number) == {rid}
    assert rid in await ids(q=name[:3])
    assert rid in await ids(tag="disabled", limit=100)
    r = await api.community.get("/api/v1/registry/residents", params={"id_number": "123"})
    assert assert_problem(r, 422)["errors"][0]["field"] == "id_number"


async def test_reveal_needs_pii_read_and_a_reason_and_is_audited(api, base_areas):
    number = make_id_number()
    r = await api.community.post(
        "/api/v1/registry/residents",
        json=person(base_areas["home"], id_number=number, phone="13700001111"),
    )
    rid = r.json()["id"]
    assert_problem(
        await api.grid.post(
            f"/api/v1/registry/residents/{rid}/reveal", json={"reason": "入户核实"}
        ),
        403,
    )
    assert_problem(
        await api.community.post(f"/api/v1/registry/residents/{rid}/reveal", json={}), 422
    )
    r = await api.community.post(
        f"/api/v1/registry/residents/{rid}/reveal",
        json={"reason": "办理低保核对身份"},
        headers={"X-Request-ID": "audit-check-1"},
    )
    assert r.json() == {"id": rid, "id_number": number, "phone": "13700001111"}
    log = (await api.street.get("/api/v1/registry/audit-log", params={"subject_id": rid})).json()
    assert len(log["items"]) == 1
    entry = log["items"][0]
    assert entry["reason"] == "办理低保核对身份" and entry["fields"] == ["id_number", "phone"]
    assert entry["request_id"] == "audit-check-1" and entry["actor_roles"] == ["community_admin"]
    assert_problem(await api.community.get("/api/v1/registry/audit-log"), 403)


async def test_minors_are_marked_and_their_birth_date_kept_back(api, base_areas):
    child = make_id_number(date(2020, 2, 2))
    r = await api.community.post(
        "/api/v1/registry/residents", json=person(base_areas["home"], id_number=child)
    )
    rid = r.json()["id"]
    assert r.json()["minor"] is True
    seen_by_grid = (await api.grid.get(f"/api/v1/registry/residents/{rid}")).json()
    assert seen_by_grid["minor"] is True and seen_by_grid["birth_date"] is None


async def test_households_and_buildings_tie_residents_to_places(api, base_areas):
    building = await api.community.post(
        "/api/v1/registry/buildings",
        json={
            "community_code": base_areas["home"],
            "name": "9号楼",
            "lat": 34.7736,
            "lng": 113.6908,
            "coord_system": "gcj02",
        },
    )
    assert building.status_code == 201, building.text
    b = building.json()
    assert b["lat"] != 34.7736 and abs(b["lat"] - 34.7736) < 0.01  # stored as WGS-84
    household = await api.community.post(
        "/api/v1/registry/households",
        json={"building_id": b["id"], "door_no": "1单元101", "head_name": "王五"},
    )
    hid = household.json()["id"]
    r = await api.community.post(
        "/api/v1/registry/residents",
        json=person(base_areas["home"], household_id=hid, relation_to_head="户主"),
    )
    assert r.json()["building_id"] == b["id"]
    assert (await api.community.get(f"/api/v1/registry/households/{hid}")).json()["members"] == 1
    assert_problem(
        await api.community.delete(f"/api/v1/registry/buildings/{b['id']}"),
        409,
        "building.has_residents",
    )
    r = await api.community.post(
        "/api/v1/registry/buildings",
        json={"community_code": base_areas["home"], "name": "外", "lat": 48.85, "lng": 2.35},
    )
    assert_problem(r, 422, "validation.outside_china")


async def test_single_resources_carry_an_etag(api, base_areas):
    r = await api.community.post("/api/v1/registry/residents", json=person(base_areas["home"]))
    url = f"/api/v1/registry/residents/{r.json()['id']}"
    first = await api.community.get(url)
    etag = first.headers["etag"]
    again = await api.community.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    await api.community.patch(url, json={"name": "改名"})
    assert (await api.community.get(url, headers={"If-None-Match": etag})).status_code == 200


async def test_a_retried_create_with_the_same_key_creates_one_resident(api, base_areas):
    body = person(base_areas["home"])
    key = {"Idempotency-Key": unique("k")}
    a = await api.community.post("/api/v1/registry/residents", json=body, headers=key)
    b = await api.community.post("/api/v1/registry/residents", json=body, headers=key)
    assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"]
    found = (
        await api.community.get(
            "/api/v1/registry/residents", params={"id_number": body["id_number"]}
        )
    ).json()
    assert len(found["items"]) == 1


async def test_services_verify_the_token_themselves(app, base_areas):
    """Called directly, not through the gateway, a service still refuses a missing token."""
    import httpx

    registry = next(a for a in app.state.embedded_apps if a.state.component == "registry")
    transport = httpx.ASGITransport(app=registry)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as direct:
        assert_problem(await direct.get("/api/v1/registry/residents"), 401, "auth.required")
        assert (await direct.get("/healthz")).json()["component"] == "registry"


async def test_a_community_worker_finds_residents_by_any_part_of_the_name_and_by_chinese_tags(
    api, new_community
):
    """Search as a worker types it: the given name without the family name, the tag names the
    roster uses, and floating population beside the tags."""
    community = await new_community()
    made = {}
    for name, extra in (
        ("黄博然", {"tags": ["elderly"]}),
        ("李博", {"residence_type": "floating"}),
        ("王然", {"tags": ["party_member"]}),
    ):
        r = await api.street.post(
            "/api/v1/registry/residents", json=person(community, name=name, **extra)
        )
        assert r.status_code == 201, r.text
        made[name] = r.json()["id"]

    async def names(**query) -> set[str]:
        r = await api.street.get(
            "/api/v1/registry/residents", params={"community": community, **query}
        )
        assert r.status_code == 200, r.text
        return {item["name"] for item in r.json()["items"]}

    assert await names(q="博然") == {"黄博然"}
    assert await names(q="博") == {"黄博然", "李博"}
    assert await names(q="%") == set()  # a wildcard is a character like any other
    assert await names(tag="老年人") == {"黄博然"}
    assert await names(tag="elderly") == {"黄博然"}
    assert await names(tag="floating") == {"李博"}
    assert await names(tag="流动人口") == {"李博"}
    r = await api.street.get(
        "/api/v1/registry/residents", params={"community": community, "tag": "vip"}
    )
    body = assert_problem(r, 422, "validation.tag_unknown")
    assert body["errors"][0]["field"] == "tag"
    assert "老年人" in body["errors"][0]["message"] and "流动人口" in body["errors"][0]["message"]


# --- name search: the database's own text index, answering as the scan did ----------------


def _registry_database(app):
    registry = next(a for a in app.state.embedded_apps if a.state.component == "registry")
    return registry.state.database


async def test_a_street_worker_finds_a_name_by_any_part_of_it_and_only_within_scope(
    api, new_community, worker
):
    """Two characters or three and more, a wildcard typed as a character, a phrase the text
    index would parse: each answer is what a scan of the names gives, page after page."""
    community = await new_community()
    made = {}
    for name in ("黄博然", "李博", "欧阳博然", "林_小明", "林%小明", '王"博然'):
        r = await api.street.post("/api/v1/registry/residents", json=person(community, name=name))
        assert r.status_code == 201, r.text
        made[name] = r.json()["id"]

    async def names(caller=api.street, **query) -> set[str]:
        r = await caller.get(
            "/api/v1/registry/residents", params={"community": community, "limit": 100, **query}
        )
        assert r.status_code == 200, r.text
        return {item["name"] for item in r.json()["items"]}

    assert await names(q="博") == {"黄博然", "李博", "欧阳博然", '王"博然'}
    assert await names(q="博然") == {"黄博然", "欧阳博然", '王"博然'}
    assert await names(q="黄博然") == {"黄博然"}
    assert await names(q="阳博然") == {"欧阳博然"}
    assert await names(q="欧阳博然") == {"欧阳博然"}
    assert await names(q="黄博然然") == set()
    # % and _ are characters like any other, of two characters or of more.
    assert await names(q="_小明") == {"林_小明"}
    assert await names(q="%小明") == {"林%小明"}
    assert await names(q="林_小") == {"林_小明"}
    assert await names(q="小明") == {"林_小明", "林%小明"}
    for wildcard in ("_博然", "博%然", "林%明", "%%%", "___"):
        assert await names(q=wildcard) == set(), wildcard
    # Quotes and the words of a query language are characters too, never a 500.
    assert await names(q='王"博') == {'王"博然'}
    assert await names(q='"博然') == {'王"博然'}
    for phrase in ("博 OR 然", "博然*", "NEAR(博 然)", "博然 -黄", "name:博然", "'博然'"):
        assert await names(q=phrase) == set(), phrase
    # Page by page, in the roster's order, the same residents.
    seen, cursor = [], None
    while True:
        params = {"community": community, "q": "博然", "limit": 1}
        r = await api.street.get(
            "/api/v1/registry/residents", params=params | ({"cursor": cursor} if cursor else {})
        )
        seen += [item["name"] for item in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(["黄博然", "欧阳博然", '王"博然'])
    # A worker of another community finds none of them, by whatever part of the name.
    _, username = await worker(await new_community())
    other = await api.login(username, "grid-pass-1")
    for q in ("博", "博然", "黄博然", "欧阳博然"):
        assert await names(other, q=q) == set(), q
        r = await other.get("/api/v1/registry/residents", params={"q": q, "limit": 100})
        assert not {item["name"] for item in r.json()["items"]} & set(made), q


async def test_a_renamed_moved_out_or_imported_resident_is_found_by_the_name_it_has_now(
    app, api, new_community
):
    """The text index is kept by the database itself for every writer — a form, a rename,
    a bulk import — and a search reads it for three characters or more."""
    from sqlalchemy import text

    from tests.factories import csv_roster

    community = await new_community()
    r = await api.street.post("/api/v1/registry/residents", json=person(community, name="司马相如"))
    rid = r.json()["id"]

    async def names(**query) -> set[str]:
        r = await api.street.get(
            "/api/v1/registry/residents", params={"community": community, "limit": 100, **query}
        )
        assert r.status_code == 200, r.text
        return {item["name"] for item in r.json()["items"]}

    assert await names(q="司马相") == {"司马相如"}
    r = await api.street.patch(f"/api/v1/registry/residents/{rid}", json={"name": "司马长卿"})
    assert r.status_code == 200, r.text
    assert await names(q="司马相") == set()
    assert await names(q="马长卿") == {"司马长卿"}
    r = await api.street.post(
        f"/api/v1/registry/residents/{rid}/move-out",
        json={"moved_out_on": "2026-01-05", "reason": "迁居"},
    )
    assert r.status_code == 200, r.text
    assert await names(q="马长卿") == set()
    assert await names(q="马长卿", status="all") == {"司马长卿"}
    assert await names(q="马长卿", status="moved_out") == {"司马长卿"}

    roster = csv_roster([["诸葛孔明", make_id_number(), "", community, "", "", "", "", "", ""]])
    r = await api.street.post(
        "/api/v1/registry/imports",
        data={"kind": "residents"},
        files={"file": ("roster.csv", roster, "text/csv")},
    )
    job = (await api.street.get(f"/api/v1/registry/imports/{r.json()['id']}")).json()
    assert (job["status"], job["imported"]) == ("done", 1), job
    assert await names(q="葛孔明") == {"诸葛孔明"}

    # The index the search reads is there, and holds the names as they are now.
    database = _registry_database(app)
    async with database.engine.connect() as conn:
        if database.is_sqlite:
            found = await conn.execute(
                text(
                    "SELECT r.name FROM resident_names JOIN residents r ON r.rowid ="
                    " resident_names.rowid WHERE resident_names MATCH :q"
                ),
                {"q": '"马长卿" OR "司马相" OR "葛孔明"'},
            )
            assert sorted(found.scalars()) == ["司马长卿", "诸葛孔明"]
        else:
            definitions = await conn.scalars(
                text("SELECT indexdef FROM pg_indexes WHERE tablename = 'residents'")
            )
            assert any(
                "gin" in d.lower() and "gin_trgm_ops" in d and "(name" in d for d in definitions
            )


async def test_without_the_name_index_a_search_still_answers(tmp_path):
    """An older SQLite without the trigram tokenizer, or a PostgreSQL without pg_trgm: the
    migration leaves the index out and the search scans the names, as before."""
    import asyncio

    import httpx
    from sqlalchemy import text

    from gateway.app import create_app
    from gateway.components import migrate_all
    from gateway.demo import DemoReport, ensure_demo_accounts
    from services.common.database import Database
    from services.common.settings import DEMO_PASSWORD
    from tests.factories import HOME
    from tests.support import drop_database, fresh_database

    settings, created = await asyncio.to_thread(fresh_database, tmp_path)
    settings = settings.model_copy(update={"log_json": False, "outbox_poll_s": 0})
    try:
        await asyncio.to_thread(migrate_all, settings)
        database = Database(settings.database_url_for("registry"), schema="registry")
        async with database.engine.begin() as conn:
            if database.is_sqlite:
                for statement in (
                    "DROP TRIGGER residents_names_insert",
                    "DROP TRIGGER residents_names_update",
                    "DROP TRIGGER residents_names_delete",
                    "DROP TABLE resident_names",
                ):
                    await conn.execute(text(statement))
            else:
                await conn.execute(text("DROP INDEX ix_residents_name_trgm"))
        await database.dispose()

        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await ensure_demo_accounts(app.state.database, DemoReport())
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                r = await http.post(
                    "/api/v1/auth/token",
                    json={"username": "demo-admin", "password": DEMO_PASSWORD},
                )
                auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
                for code, name in (
                    ("410105000000", "金水区"),
                    ("410105001000", "经八路街道"),
                    (HOME, "黄河路社区"),
                ):
                    r = await http.post(
                        "/api/v1/registry/areas", json={"code": code, "name": name}, headers=auth
                    )
                    assert r.status_code == 201, r.text
                r = await http.post(
                    "/api/v1/registry/residents", json=person(HOME, name="黄博然"), headers=auth
                )
                assert r.status_code == 201, r.text
                for q, found in (("博然", 1), ("黄博然", 1), ("_博然", 0), ("博然x", 0)):
                    r = await http.get("/api/v1/registry/residents", params={"q": q}, headers=auth)
                    assert r.status_code == 200, r.text
                    assert len(r.json()["items"]) == found, q
    finally:
        if created:
            await asyncio.to_thread(drop_database, created)


async def test_a_resident_answer_names_its_codes_in_chinese_beside_them(api, new_community):
    """A phone shows 流动, 女, 党员 and the deployment's own 楼长 without a table of its own:
    every answer carrying a resident gives the names beside the stable codes, the tags'
    in the tags' order; ID number and phone stay masked."""
    community = await new_community()
    code = "t" + unique("")[-8:]
    r = await api.admin.post("/api/v1/registry/tags", json={"code": code, "name": "楼长" + code})
    assert r.status_code == 201, r.text
    names = {"party_member": "党员", "elderly": "老年人", code: "楼长" + code}
    building = await api.admin.post(
        "/api/v1/registry/buildings",
        json={"community_code": community, "name": "3号楼", "lat": 34.75, "lng": 113.63},
    )
    cell = f"{community}001"
    r = await api.admin.patch(
        f"/api/v1/registry/buildings/{building.json()['id']}", json={"cell_code": cell}
    )
    assert r.status_code == 200, r.text
    household = await api.street.post(
        "/api/v1/registry/households",
        json={"building_id": building.json()["id"], "door_no": "1单元101"},
    )
    number = make_id_number(date(1956, 4, 4), seq=922)  # an even order code: female
    r = await api.street.post(
        "/api/v1/registry/residents",
        json=person(
            community,
            id_number=number,
            phone="13912345678",
            household_id=household.json()["id"],
            relation_to_head="户主",
            residence_type="floating",
            tags=[code, "party_member", "elderly"],
        ),
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]

    def named(body: dict) -> None:
        assert body["residence_type"] == "floating" and body["residence_type_name"] == "流动"
        assert body["gender"] == "female" and body["gender_name"] == "女"
        assert set(body["tags"]) == {code, "party_member", "elderly"}
        assert body["tag_names"] == [names[t] for t in body["tags"]]
        assert body["relation_to_head"] == "户主"  # typed in Chinese, kept as typed
        assert body["id_number_masked"] == number[:6] + "********" + number[-4:]
        assert body["phone"] == "139****5678"
        assert number not in str(body) and "13912345678" not in str(body)

    named(r.json())
    named((await api.street.get(f"/api/v1/registry/residents/{rid}")).json())
    listed = await api.street.get(
        "/api/v1/registry/residents", params={"community": community, "tag": code}
    )
    [item] = listed.json()["items"]
    named(item)
    synced = await api.admin.get(
        "/api/v1/registry/sync", params={"cells": cell, "until": "2100-01-01T00:00:00+08:00"}
    )
    assert synced.status_code == 200, synced.text
    [resident] = synced.json()["residents"]
    assert resident["residence_type_name"] == "流动" and resident["gender_name"] == "女"
    assert resident["tag_names"] == [names[t] for t in resident["tags"]]
    r = await api.street.patch(
        f"/api/v1/registry/residents/{rid}",
        json={"residence_type": "registered", "tags": ["elderly"]},
    )
    assert (r.json()["residence_type_name"], r.json()["tag_names"]) == ("户籍", ["老年人"])
    assert r.json()["status_name"] == "在册"
    r = await api.street.post(
        f"/api/v1/registry/residents/{rid}/move-out",
        json={"moved_out_on": "2026-01-05", "reason": "迁居"},
    )
    assert (r.json()["residence_type_name"], r.json()["tag_names"]) == ("户籍", ["老年人"])
    assert r.json()["status_name"] == "已迁出"


async def test_a_worker_tags_a_resident_by_the_names_the_roster_uses(api, new_community):
    """The worker types 党员、低保 as the roster and the search do: the record takes the
    codes; 流动人口 among them is the residence type floating, as in the import; an unknown
    name is a 422 that lists the known ones."""
    community = await new_community()
    r = await api.street.post(
        "/api/v1/registry/residents", json=person(community, tags=["老年人", "流动人口"])
    )
    assert r.status_code == 201, r.text
    assert r.json()["tags"] == ["elderly"] and r.json()["residence_type"] == "floating"
    rid = r.json()["id"]
    r = await api.street.patch(f"/api/v1/registry/residents/{rid}", json={"tags": ["党员", "低保"]})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["tags"]) == ["low_income", "party_member"]
    assert r.json()["residence_type"] == "floating"  # the tags did not say otherwise
    listed = await api.street.get(
        "/api/v1/registry/residents", params={"community": community, "tag": "低保"}
    )
    assert [i["id"] for i in listed.json()["items"]] == [rid]
    r = await api.street.patch(
        f"/api/v1/registry/residents/{rid}", json={"tags": ["党员", "流动人口"]}
    )
    assert r.status_code == 200 and r.json()["tags"] == ["party_member"]
    # The tags and the residence type must not contradict each other.
    r = await api.street.patch(
        f"/api/v1/registry/residents/{rid}",
        json={"tags": ["流动人口"], "residence_type": "registered"},
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "residence_type"
    r = await api.street.patch(f"/api/v1/registry/residents/{rid}", json={"tags": ["贵宾"]})
    body = assert_problem(r, 422, "validation.tag_unknown")
    assert body["errors"][0]["field"] == "tags"
    message = body["errors"][0]["message"]
    assert "贵宾" in message and "党员" in message and "流动人口" in message


async def test_a_change_of_tags_alone_reaches_the_grid_workers_phone(api, new_community):
    """A worker marks a resident 低保 and nothing else: the phone's next delta brings it, as
    it brings a new phone number."""
    community = await new_community()
    building = await api.street.post(
        "/api/v1/registry/buildings",
        json={"community_code": community, "name": "5号楼", "lat": 34.75, "lng": 113.63},
    )
    cell = f"{community}001"
    r = await api.admin.patch(
        f"/api/v1/registry/buildings/{building.json()['id']}", json={"cell_code": cell}
    )
    assert r.status_code == 200, r.text
    household = await api.street.post(
        "/api/v1/registry/households",
        json={"building_id": building.json()["id"], "door_no": "1单元101"},
    )
    r = await api.street.post(
        "/api/v1/registry/residents",
        json=person(community, household_id=household.json()["id"], tags=["elderly"]),
    )
    assert r.status_code == 201, r.text
    rid, first = r.json()["id"], r.json()["updated_at"]

    clock.advance(timedelta(minutes=5))
    synced_at = clock.now().astimezone(local_zone()).isoformat()
    clock.advance(timedelta(minutes=5))
    r = await api.street.patch(f"/api/v1/registry/residents/{rid}", json={"tags": ["低保"]})
    assert r.status_code == 200, r.text
    assert r.json()["updated_at"] > first and r.json()["tags"] == ["low_income"]
    delta = await api.admin.get(
        "/api/v1/registry/sync",
        params={"cells": cell, "since": synced_at, "until": "2100-01-01T00:00:00+08:00"},
    )
    assert delta.status_code == 200, delta.text
    assert [(p["id"], p["tags"]) for p in delta.json()["residents"]] == [(rid, ["low_income"])]
