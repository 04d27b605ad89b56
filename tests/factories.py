"""Factories for the stories: the people, places and records a user story starts from,
made through the API as the users make them. Test modules import from here, never from
each other."""

from __future__ import annotations

import csv
import io
import random
import struct
import zlib
from datetime import timedelta

from stdnum.cn import uscc

from services.common.clock import clock, to_local
from tests.support import make_id_number, unique

YEAR = clock.today().year

DISTRICT = "410105000000"
STREET_A = "410105001000"  # demo-street's street; demo-community's community is 410105001001
STREET_B = "410105002000"
HOME = "410105001001"


def credit_code(prefix: str = "91") -> str:
    body = (
        prefix
        + "410105"
        + "".join(random.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    )
    return body + uscc.calc_check_digit(body)


def unit(community: str, **extra) -> dict:
    return {
        "name": "某某有限公司",
        "uscc": credit_code(),
        "category": "enterprise",
        "community_code": community,
        "contact_name": "赵六",
        "contact_phone": "13912345678",
        "facilities": [
            {"name": "篮球场", "kind": "sports", "capacity": 30, "opening_hours": "周末 8:00-18:00"}
        ],
        **extra,
    }


async def resident_in_registry(api, community: str, name: str = "志愿者") -> str:
    number = make_id_number()
    r = await api.admin.post(
        "/api/v1/registry/residents",
        json={"name": name, "id_number": number, "community_code": community},
    )
    assert r.status_code == 201, r.text
    return number


async def volunteer(
    api, community: str, *, matched: bool = True, openid: str | None = None, **extra
):
    """A resident who logs in through WeChat and registers; returns (caller, volunteer)."""
    openid = openid or unique("wx")
    caller = await api.resident(openid)
    caller.openid = openid
    name = extra.pop("name", "志愿者")
    number = await resident_in_registry(api, community, name) if matched else make_id_number()
    r = await caller.post(
        "/api/v1/volunteer/volunteers",
        json={
            "name": name,
            "id_number": number,
            "phone": "13700001234",
            "community_code": community,
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return caller, r.json()


async def activity(
    api,
    community: str,
    *,
    capacity: int = 10,
    start_in=timedelta(days=2),
    hours: float = 2,
    **extra,
) -> dict:
    start = to_local(clock.now() + start_in)  # as a phone in Beijing sends it: +08:00
    r = await api.admin.post(
        "/api/v1/volunteer/activities",
        json={
            "community_code": community,
            "title": "清洁家园",
            "category": "environment",
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(hours=hours)).isoformat(),
            "lat": 34.75,
            "lng": 113.65,
            "radius_m": 100,
            "capacity": capacity,
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def square(lat: float, lng: float, size: float = 0.002) -> dict:
    """A closed GeoJSON ring, counter-clockwise, of ``size`` degrees."""
    return {
        "type": "Polygon",
        "coordinates": [
            [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
        ],
    }


async def make_cell(api, community, lat, lng, size=0.002, **extra):
    r = await api.admin.post(
        "/api/v1/grid/cells",
        json={
            "community_code": community,
            "name": "第一网格",
            "boundary": square(lat, lng, size),
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def setup_cell(api, new_community, spot, worker):
    community = await new_community()
    lat, lng = spot
    cell = await make_cell(api, community, lat, lng, size=0.004)
    user_id, username = await worker(community)
    await api.admin.put(f"/api/v1/grid/cells/{cell['code']}/members", json={"workers": [user_id]})
    caller = await api.login(username, "grid-pass-1")
    return cell, caller, (lat + 0.002, lng + 0.002)


async def report(caller, point, **extra):
    r = await caller.post(
        "/api/v1/grid/cases",
        json={
            "category_code": "01.01",
            "description": "路边堆放垃圾",
            "lat": point[0],
            "lng": point[1],
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


async def step(caller, case_id, action, **extra):
    return await caller.post(
        f"/api/v1/grid/cases/{case_id}/transitions", json={"action": action, **extra}
    )


async def populate(api, cell, point):
    """A building in the cell with two households and three residents."""
    b = await api.admin.post(
        "/api/v1/registry/buildings",
        json={
            "community_code": cell["community_code"],
            "name": "1号楼",
            "lat": point[0],
            "lng": point[1],
        },
    )
    assert b.json()["cell_code"] == cell["code"]
    households = []
    for door in ("101", "102"):
        r = await api.admin.post(
            "/api/v1/registry/households", json={"building_id": b.json()["id"], "door_no": door}
        )
        households.append(r.json()["id"])
    residents = []
    for i, hid in enumerate([households[0], households[0], households[1]]):
        r = await api.admin.post(
            "/api/v1/registry/residents",
            json={
                "name": f"住户{i}",
                "id_number": make_id_number(),
                "phone": "13911112222",
                "community_code": cell["community_code"],
                "household_id": hid,
            },
        )
        residents.append(r.json()["id"])
    return b.json()["id"], households, residents


async def unit_with_contact(api, community: str):
    r = await api.admin.post(
        "/api/v1/registry/units",
        json={
            "name": "某某公司" + unique("")[-4:],
            "uscc": credit_code(),
            "category": "enterprise",
            "community_code": community,
        },
    )
    unit = r.json()
    username = unique("uc")
    r = await api.admin.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": "unit-pass-1",
            "role": "unit_contact",
            "scope": [community],
            "unit_id": unit["id"],
        },
    )
    assert r.status_code == 201, r.text
    return unit, await api.login(username, "unit-pass-1")


def agreement_body(unit_id: str, community: str, **extra) -> dict:
    return {
        "unit_id": unit_id,
        "community_code": community,
        "title": "共驻共建协议",
        "term_start": f"{YEAR}-01-01",
        "term_end": f"{YEAR}-12-31",
        "pledges": [
            {
                "category": "services",
                "description": "每季度开展一次便民服务",
                "target_quantity": 1,
                "target_unit": "times",
                "per": "quarter",
            },
            {
                "category": "facilities",
                "description": "周末开放篮球场",
                "target_quantity": 16,
                "target_unit": "opening_hours_per_week",
                "per": "year",
                "facility_name": "篮球场",
                "facility_capacity": 30,
                "facility_hours": "周六、周日 8:00-16:00",
            },
        ],
        **extra,
    }


async def active_agreement(api, community, *, by=None):
    """An agreement both sides signed; ``by``: who signs for the community (the demo street
    admin, whose street is STREET_A, unless told)."""
    by = by or api.street
    unit, contact = await unit_with_contact(api, community)
    r = await by.post("/api/v1/assessment/agreements", json=agreement_body(unit["id"], community))
    assert r.status_code == 201, r.text
    agreement = r.json()
    await contact.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/sign", json={"party": "unit"}
    )
    r = await by.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/sign", json={"party": "community"}
    )
    return unit, contact, r.json()


def roster(community: str, count: int) -> tuple[bytes, list[tuple[str, str]]]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["姓名", "身份证号", "社区代码"])
    people, seen = [], set()
    while len(people) < count:
        number = make_id_number()
        if number in seen:
            continue
        seen.add(number)
        i = len(people)
        people.append((f"居民{i}", number))
        writer.writerow([f"居民{i}", number, community])
    return out.getvalue().encode("utf-8-sig"), people


async def community_with(
    api, new_community, residents: int, volunteers: int, *, street: str = STREET_A
) -> str:
    community = await new_community(street)
    content, people = roster(community, residents)
    r = await api.admin.post(
        "/api/v1/registry/imports",
        data={"kind": "residents"},
        files={"file": ("r.csv", content, "text/csv")},
    )
    job = (await api.admin.get(f"/api/v1/registry/imports/{r.json()['id']}")).json()
    assert job["imported"] == residents, job
    for name, number in people[:volunteers]:
        caller = await api.resident()
        r = await caller.post(
            "/api/v1/volunteer/volunteers",
            json={
                "name": name,
                "id_number": number,
                "phone": "13700001234",
                "community_code": community,
            },
        )
        assert r.json()["status"] == "active", r.text
    return community


RESIDENT_HEADER = [
    "姓名",
    "身份证号",
    "手机号",
    "社区代码",
    "楼栋",
    "门牌号",
    "与户主关系",
    "居住类型",
    "标签",
    "迁入日期",
]


def csv_roster(rows: list[list], header=RESIDENT_HEADER) -> bytes:
    """A roster as a community worker saves it from Excel: UTF-8 with a BOM."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def tiny_png() -> bytes:
    """A valid 1×1 PNG, for the upload stories."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def uploaded(caller, content: bytes | None = None, name: str = "photo.png") -> str:
    """A photo (or ``content``) the caller uploads; returns the file's id."""
    r = await caller.post(
        "/api/v1/files", files={"file": (name, content or tiny_png(), "application/octet-stream")}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def staff_account(
    api, role: str, scope: str, name: str = "", *, password: str = "staff-pass-1", **extra
):
    """A staff account of ``role`` over ``scope`` (with a display name when given), made by
    the platform admin and logged in; ``caller.user_id`` is the account's id."""
    username = unique(role.split("_")[0])
    r = await api.admin.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": password,
            "role": role,
            "scope": [scope],
            **({"display_name": name} if name else {}),
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    caller = await api.login(username, password)
    caller.user_id = r.json()["id"]
    return caller


async def upload_roster(
    caller,
    content: bytes,
    name: str = "roster.xlsx",
    kind: str = "residents",
    create_buildings: bool = False,
):
    """A roster sent to the import as a worker's browser sends it."""
    data = {"kind": kind}
    if create_buildings:
        data["create_buildings"] = "true"
    return await caller.post(
        "/api/v1/registry/imports",
        data=data,
        files={"file": (name, content, "application/octet-stream")},
    )


async def finished_import(caller, job_id: str) -> dict:
    job = (await caller.get(f"/api/v1/registry/imports/{job_id}")).json()
    assert job["status"] == "done", job
    return job
