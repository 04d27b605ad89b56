"""Personal data never rests in plain text: the stories a community worker, a resident and a
unit live through are played, then every database (the SQLite files with their write-ahead
logs, or the PostgreSQL schemas) and the data directory are searched for the ID numbers and
phones they used. Every read of a full value, a replay included, leaves an audit entry."""

from __future__ import annotations

import random
from pathlib import Path

import anyio
import asyncpg
from sqlalchemy.engine import make_url

from gateway.components import MIGRATION_TREES
from tests.factories import credit_code, csv_roster
from tests.support import assert_problem, make_id_number, unique


def a_phone() -> str:
    return "139" + f"{random.randrange(10**8):08d}"


async def test_no_id_number_or_phone_rests_in_plain_text(api, settings, new_community):
    community = await new_community()
    secrets: list[str] = []

    # A community worker registers a resident by hand, and reveals them twice with one key.
    number, phone = make_id_number(), a_phone()
    secrets += [number, phone]
    r = await api.admin.post(
        "/api/v1/registry/residents",
        json={"name": "明文", "id_number": number, "phone": phone, "community_code": community},
    )
    assert r.status_code == 201, r.text
    resident = r.json()["id"]
    key = {"Idempotency-Key": unique("reveal")}
    reason = {"reason": "核对户籍信息"}
    for _ in range(2):
        shown = await api.admin.post(
            f"/api/v1/registry/residents/{resident}/reveal", json=reason, headers=key
        )
        assert shown.status_code == 200 and shown.json()["id_number"] == number, shown.text
    # The same key with another reason is a reuse, as for any POST, though nothing was kept.
    other = await api.admin.post(
        f"/api/v1/registry/residents/{resident}/reveal", json={"reason": "别的"}, headers=key
    )
    assert_problem(other, 422, "idempotency.key_reused")
    # A new phone, then a new ID number: the change history keeps both sides, masked only.
    new_phone, new_number = a_phone(), make_id_number()
    secrets += [new_phone, new_number]
    for change in ({"phone": new_phone}, {"id_number": new_number}):
        r = await api.admin.patch(f"/api/v1/registry/residents/{resident}", json=change)
        assert r.status_code == 200, r.text
    shown = await api.admin.get(f"/api/v1/registry/residents/{resident}/history")
    changes = [c for e in shown.json()["items"] for c in e["changes"]]
    masked = [c for c in changes if c["field"] in ("phone", "id_number")]
    assert len(masked) == 4 and all("*" in (c["old"] or "") + c["new"] for c in masked)
    assert "v1." not in shown.text  # not even the ciphertext
    audit = await api.admin.get("/api/v1/registry/audit-log", params={"subject_id": resident})
    assert audit.status_code == 200, audit.text
    assert len(audit.json()["items"]) == 2  # the replay was a read too

    # A roster with a good row and a bad one (the phone is wrong, the ID number is right).
    good, bad = (make_id_number(), a_phone()), (make_id_number(), "1390000")
    secrets += [*good, bad[0]]
    roster = csv_roster(
        [
            ["甲", good[0], good[1], community, "", "", "", "常住", "", ""],
            ["乙", bad[0], bad[1], community, "", "", "", "常住", "", ""],
        ]
    )
    r = await api.admin.post(
        "/api/v1/registry/imports",
        data={"kind": "residents"},
        files={"file": ("roster.csv", roster, "text/csv")},
    )
    job = (await api.admin.get(f"/api/v1/registry/imports/{r.json()['id']}")).json()
    assert (job["imported"], job["failed"]) == (1, 1), job
    sheet = await api.admin.get(f"/api/v1/registry/imports/{job['id']}/errors.xlsx")
    assert sheet.status_code == 200 and bad[0].encode() not in sheet.content  # zipped, so
    downloads = await api.admin.get("/api/v1/registry/audit-log", params={"subject_id": job["id"]})
    assert len(downloads.json()["items"]) == 1  # the full values handed out are a read

    # A unit with a contact phone; a resident registers as a volunteer with a guardian.
    unit_phone = a_phone()
    secrets.append(unit_phone)
    r = await api.admin.post(
        "/api/v1/registry/units",
        json={
            "name": "明文单位",
            "uscc": credit_code(),
            "category": "enterprise",
            "community_code": community,
            "contact_name": "联系人",
            "contact_phone": unit_phone,
        },
    )
    assert r.status_code == 201, r.text
    volunteer_phone, guardian_phone = a_phone(), a_phone()
    secrets += [volunteer_phone, guardian_phone]
    r = await (await api.resident()).post(
        "/api/v1/volunteer/volunteers",
        json={
            "name": "甲",
            "id_number": good[0],
            "phone": volunteer_phone,
            "community_code": community,
            "guardian": {"name": "监护人", "phone": guardian_phone, "consent": True},
        },
    )
    assert r.status_code == 201, r.text

    found = await plaintext_at_rest(settings, secrets)
    assert not found, found


def files_holding(root: Path, secrets: list[str]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {s}" for s in secrets if s.encode() in data]
    return found


async def plaintext_at_rest(settings, secrets: list[str]) -> list[str]:
    found = await anyio.to_thread.run_sync(files_holding, Path(settings.data_dir), secrets)
    if settings.is_postgres:
        url = make_url(settings.database_url_for("gateway"))
        conn = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, database=url.database
        )
        try:
            for schema in MIGRATION_TREES:
                tables = await conn.fetch(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                    schema,
                )
                for t in tables:
                    name = f'"{schema}"."{t["table_name"]}"'
                    rows = await conn.fetch(f"SELECT t::text AS row FROM {name} t")
                    text = "\n".join(r["row"] for r in rows)
                    found += [f"{name}: {s}" for s in secrets if s in text]
        finally:
            await conn.close()
    return found
