"""Uploading a photo of a case or a PDF of an agreement."""

from __future__ import annotations

import hashlib

from tests.factories import (
    PDF,
    STREET_B,
    YEAR,
    active_agreement,
    populate,
    report,
    setup_cell,
    staff_account,
    step,
    tiny_png,
    uploaded,
)
from tests.support import assert_problem, unique


async def test_a_png_is_stored_by_its_sha256_and_read_back_by_its_owner(api):
    data = tiny_png()
    resident = await api.resident()
    r = await resident.post("/api/v1/files", files={"file": ("photo.png", data, "image/png")})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["content_type"] == "image/png"
    assert body["url"] == f"/api/v1/files/{body['id']}"
    got = await resident.get(body["url"])
    assert got.status_code == 200 and got.content == data
    # Another resident cannot read it, nor can staff while it belongs to no record.
    other = await api.resident()
    assert_problem(await other.get(body["url"]), 404)
    assert_problem(await api.grid.get(body["url"]), 404)
    assert (await api.admin.get(body["url"])).status_code == 200


async def test_a_case_photo_is_read_by_those_who_reach_the_case_and_no_one_else(
    api, new_community, spot, worker
):
    """A file belongs to the record it is attached to: staff of another street could read
    every upload by its id before."""
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    photo = await reporter.post("/api/v1/files", files={"file": ("p.png", tiny_png(), "image/png")})
    url = photo.json()["url"]
    r = await reporter.post(
        "/api/v1/grid/cases",
        json={
            "category_code": "01.01",
            "description": "路边堆放垃圾",
            "lat": point[0],
            "lng": point[1],
            "photos": [photo.json()["id"]],
        },
    )
    assert r.status_code == 201, r.text
    assert (await reporter.get(url)).status_code == 200
    assert (await api.street.get(url)).status_code == 200  # the case's street
    other_street = await api.login(*await staff_elsewhere(api))
    assert_problem(await other_street.get(url), 404)


async def staff_elsewhere(api) -> tuple[str, str]:
    username = unique("sb")
    r = await api.admin.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": "street-b-pass",
            "role": "street_admin",
            "scope": [STREET_B],
        },
    )
    assert r.status_code == 201, r.text
    return username, "street-b-pass"


async def test_a_pdf_is_recognised_whatever_its_name(api):
    r = await api.unit.post(
        "/api/v1/files", files={"file": ("evidence.bin", PDF, "application/octet-stream")}
    )
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "application/pdf"


async def test_a_jpg_that_is_really_text_is_a_415(api):
    r = await api.grid.post(
        "/api/v1/files", files={"file": ("photo.jpg", b"hello, I am text", "image/jpeg")}
    )
    assert_problem(r, 415, "file.type_unsupported")


async def test_over_five_megabytes_is_a_413(api):
    big = tiny_png() + b"\x00" * (5 * 1024 * 1024)
    r = await api.grid.post("/api/v1/files", files={"file": ("big.png", big, "image/png")})
    assert_problem(r, 413)


async def test_uploads_need_a_login(api):
    r = await api.anon.post("/api/v1/files", files={"file": ("p.png", tiny_png(), "image/png")})
    assert_problem(r, 401, "auth.required")
    assert_problem(await api.grid.post("/api/v1/files"), 422, "validation.missing")


def _field_errors(body: dict) -> list[tuple[str, str]]:
    return [(e["field"], e["code"]) for e in body["errors"]]


async def test_a_case_or_visit_names_only_photos_its_reporter_uploaded(
    api, new_community, spot, worker
):
    """An id that is no upload, or someone else's upload, was taken as a photo: the case
    then carried, and handed to whoever reaches its cell, a stranger's file."""
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    mine = await uploaded(reporter)
    strangers = await uploaded(await api.resident())
    body = {"category_code": "01.01", "description": "井盖缺失", "lat": point[0], "lng": point[1]}

    r = await reporter.post("/api/v1/grid/cases", json={**body, "photos": [mine, "no-such-file"]})
    problem = assert_problem(r, 422, "file.not_found")
    assert _field_errors(problem) == [("photos[1]", "file_not_found")]
    r = await reporter.post("/api/v1/grid/cases", json={**body, "photos": [strangers]})
    problem = assert_problem(r, 422, "file.not_yours")
    assert _field_errors(problem) == [("photos[0]", "file_not_yours")]
    assert problem["detail"] and problem["errors"][0]["message"]
    # the stranger's file stays the stranger's: the cell's staff still cannot read it
    assert_problem(await api.street.get(f"/api/v1/files/{strangers}"), 404)

    case = await report(reporter, point, photos=[mine])
    assert case["photos"] == [mine]
    await step(api.admin, case["id"], "accept")
    await step(api.admin, case["id"], "dispatch", dispatched_to="环卫所")
    r = await step(reporter, case["id"], "handle", photos=[strangers])
    assert _field_errors(assert_problem(r, 422, "file.not_yours")) == [
        ("photos[0]", "file_not_yours")
    ]
    after = await uploaded(reporter)
    r = await step(reporter, case["id"], "handle", photos=[after, mine])  # its own, again: fine
    assert r.status_code == 200, r.text

    _, households, _ = await populate(api, cell, point)
    visit = {"household_id": households[0], "visited_at": "2020-01-01T10:00:00+08:00"}
    r = await reporter.post("/api/v1/grid/visits", json={**visit, "photos": [strangers]})
    assert _field_errors(assert_problem(r, 422, "file.not_yours")) == [
        ("photos[0]", "file_not_yours")
    ]
    r = await reporter.post("/api/v1/grid/visits", json={**visit, "photos": ["nope"]})
    assert _field_errors(assert_problem(r, 422, "file.not_found")) == [
        ("photos[0]", "file_not_found")
    ]
    r = await reporter.post(
        "/api/v1/grid/visits", json={**visit, "photos": [await uploaded(reporter)]}
    )
    assert r.status_code == 201, r.text


async def test_a_fulfilment_record_names_only_evidence_its_author_uploaded(api, new_community):
    community = await new_community()
    _, contact, agreement = await active_agreement(api, community)
    record = {
        "pledge_id": agreement["pledges"][0]["id"],
        "day": f"{YEAR}-03-01",
        "quantity": 1,
        "description": "义诊",
    }
    url = f"/api/v1/assessment/agreements/{agreement['id']}/records"
    strangers = await uploaded(await api.resident(), PDF, "x.pdf")
    r = await contact.post(url, json={**record, "evidence": ["missing", strangers]})
    problem = assert_problem(r, 422, "file.not_found")
    assert _field_errors(problem) == [
        ("evidence[0]", "file_not_found"),
        ("evidence[1]", "file_not_yours"),
    ]
    assert (await contact.get(url)).json()["items"] == []  # nothing was recorded
    mine = await uploaded(contact, PDF, "evidence.pdf")
    r = await contact.post(url, json={**record, "evidence": [mine]})
    assert r.status_code == 201, r.text
    assert (await api.street.get(f"/api/v1/files/{mine}")).status_code == 200


async def test_a_file_attached_in_one_area_is_not_attached_again_in_another(
    api, new_community, spot, worker
):
    """Once a photo belongs to a case in street A, a unit of street B cannot make it its
    evidence (and so hand it to street B's staff), nor can its own uploader move it."""
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    photo = await uploaded(reporter)
    await report(reporter, point, photos=[photo])
    elsewhere = await new_community(STREET_B, "花园路共建社区")
    _, contact_b, agreement = await active_agreement(api, elsewhere, by=api.admin)
    record = {
        "pledge_id": agreement["pledges"][0]["id"],
        "day": f"{YEAR}-03-01",
        "quantity": 1,
        "description": "义诊",
        "evidence": [photo],
    }
    url = f"/api/v1/assessment/agreements/{agreement['id']}/records"
    problem = assert_problem(await contact_b.post(url, json=record), 422, "file.not_yours")
    assert _field_errors(problem) == [("evidence[0]", "file_not_yours")]
    # Its uploader may name it again in the same cell, not in another area.
    again = await report(reporter, point, photos=[photo], description="又有人堆放")
    assert again["photos"] == [photo]
    admin_photo = await uploaded(api.admin)
    await report(api.admin, point, photos=[admin_photo])
    problem = assert_problem(
        await api.admin.post(url, json={**record, "evidence": [admin_photo]}),
        422,
        "file.attached_elsewhere",
    )
    assert _field_errors(problem) == [("evidence[0]", "file_attached_elsewhere")]
    street_b = await api.login(*await staff_elsewhere(api))
    assert_problem(await street_b.get(f"/api/v1/files/{photo}"), 404)


async def test_a_model_community_application_names_only_its_authors_attachments(api, new_community):
    """The same hole in the application's attachments: any id was kept, and the street
    and district reviewing it could not read the community's own files either."""
    community = await new_community()
    author = await staff_account(api, "community_admin", community)
    strangers = await uploaded(await api.resident(), PDF, "x.pdf")
    body = {"community_code": community, "year": YEAR, "statement": "申报示范社区"}
    r = await author.post(
        "/api/v1/assessment/applications", json={**body, "attachments": ["gone", strangers]}
    )
    problem = assert_problem(r, 422, "file.not_found")
    assert _field_errors(problem) == [
        ("attachments[0]", "file_not_found"),
        ("attachments[1]", "file_not_yours"),
    ]
    mine = await uploaded(author, PDF, "report.pdf")
    r = await author.post("/api/v1/assessment/applications", json={**body, "attachments": [mine]})
    assert r.status_code == 201, r.text
    assert (await api.street.get(f"/api/v1/files/{mine}")).status_code == 200


async def test_a_blank_or_overlong_photo_id_is_the_senders_422(api, new_community, spot, worker):
    """A phone that sends an empty or garbled id got a 502 telling the worker to call an
    administrator: the gateway's 422 on the lookup was no answer the grid understood."""
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    body = {"category_code": "01.01", "description": "井盖缺失", "lat": point[0], "lng": point[1]}
    for bad in ("", " ", "a" * 5000):
        r = await reporter.post("/api/v1/grid/cases", json={**body, "photos": [bad]})
        assert r.status_code == 422, (bad[:10], r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["photos[0]"], r.text
    _, households, _ = await populate(api, cell, point)
    visit = {"household_id": households[0], "visited_at": "2020-01-01T10:00:00+08:00"}
    r = await reporter.post("/api/v1/grid/visits", json={**visit, "photos": [""]})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["photos[0]"], r.text
