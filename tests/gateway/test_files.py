"""Uploading a photo of a case or a PDF of an agreement."""

from __future__ import annotations

import hashlib

from tests.factories import STREET_B, setup_cell, tiny_png
from tests.support import assert_problem, unique

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


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
