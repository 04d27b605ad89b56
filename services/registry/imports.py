"""Roster imports: the Excel and CSV files communities already keep.

A file is read as a stream of rows (openpyxl's read-only mode for .xlsx, the csv module for
.csv), validated, encrypted and written
in batches, each batch in its own transaction, so a bad row never blocks the good ones and
memory stays flat whatever the file's size. Re-importing a file changes nothing: residents
are matched by the blind index of their ID number, buildings by name, households by door,
units by credit code. Every bad row is kept with its values, for the error spreadsheet.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import anyio
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from services.common.clock import clock
from services.common.database import Database, bulk_insert, one_of
from services.common.errors import AppError, FieldError
from services.common.i18n import FIELD_MESSAGES, message
from services.common.ids import new_id
from services.common.pii import PiiCipher, mask_phone
from services.common.validators import (
    InvalidValue,
    normalize_mobile,
    normalize_uscc,
    parse_id_number,
)
from services.registry import counts, rules
from services.registry.models import (
    Area,
    Building,
    Household,
    ImportError_,
    ImportJob,
    Resident,
    ResidentTag,
    TagDefinition,
    Unit,
)
from services.registry.service import seal_id_number, seal_phone

log = logging.getLogger("gongjian.registry.imports")

# Rows per batch (one transaction each). Each transaction has a fixed cost of its own
# (~50 ms measured on PostgreSQL, whatever the batch's size): 1,000 gave ~4,500 rows/s,
# 2,500 ~6,000 rows/s with +40 MB, 5,000 ~6,600 rows/s with +55 MB (bench/registry.py).
BATCH_ROWS = 2500
MAX_ERRORS_KEPT = 100_000


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    required: bool = False
    text: bool = False  # formatted as text in the template (IDs, phones, codes)
    note: str = ""


COLUMNS: dict[str, tuple[Column, ...]] = {
    "residents": (
        Column("姓名", "name", True),
        Column("身份证号", "id_number", True, True, "18 位,末位可为 X"),
        Column("手机号", "phone", False, True),
        Column("社区代码", "community_code", True, True, "12 位统计用区划代码"),
        Column("楼栋", "building", False, False, "如 3号楼;不存在时自动建立"),
        Column("门牌号", "door_no", False, False, "如 2单元301;同楼栋同门牌为一户"),
        Column("与户主关系", "relation_to_head"),
        Column("居住类型", "residence_type", False, False, "户籍 / 常住 / 流动,默认常住"),
        Column("标签", "tags", False, False, "多个用逗号或顿号分隔,如 党员、老年人"),
        Column("迁入日期", "moved_in_on", False, False, "YYYY-MM-DD"),
    ),
    "buildings": (
        Column("社区代码", "community_code", True, True),
        Column("楼栋名称", "name", True),
        Column("地址", "address"),
        Column("层数", "floors"),
        Column("纬度", "lat", False, False, "WGS-84 或 GCJ-02,见坐标系"),
        Column("经度", "lng"),
        Column("坐标系", "coord_system", False, False, "wgs84 / gcj02,默认 wgs84"),
    ),
    "households": (
        Column("社区代码", "community_code", True, True),
        Column("楼栋", "building", True),
        Column("门牌号", "door_no", True),
        Column("户主姓名", "head_name"),
    ),
    "units": (
        Column("单位名称", "name", True),
        Column("统一社会信用代码", "uscc", True, True),
        Column(
            "单位类别",
            "category",
            True,
            False,
            "机关 / 事业单位 / 学校 / 医院 / 企业 / 社会组织 ...",
        ),
        Column("社区代码", "community_code", True, True),
        Column("地址", "address"),
        Column("联系人", "contact_name"),
        Column("联系电话", "contact_phone", False, True),
        Column("党组织名称", "party_org_name"),
        Column("党员人数", "party_member_count"),
    ),
}

KINDS = tuple(COLUMNS)
_TAG_SPLIT = re.compile(r"[,，、;；\s]+")
_RESIDENCE_NAMES = {v: k for k, v in rules.RESIDENCE_TYPES.items()} | {
    k: k for k in rules.RESIDENCE_TYPES
}
_CATEGORY_NAMES = {v: k for k, v in rules.UNIT_CATEGORIES.items()} | {
    k: k for k in rules.UNIT_CATEGORIES
}


# --- reading -------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return value.strip()
    return value


def open_rows(path: Path) -> Iterator[list[Any]]:
    """Every row of the file's first sheet, header first."""
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.reader(handle):
                yield [_cell(v) for v in row]
        return
    # openpyxl in read-only mode streams the sheet's XML: memory stays flat whatever the
    # file's size. (python-calamine parses faster but holds the whole sheet: +120 MB for
    # 100,000 rows in bench/results/registry.json — too much for a phone-sized server.)
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell(v) for v in row]
    finally:
        workbook.close()


def read_header(path: Path) -> list[str]:
    try:
        for row in open_rows(path):
            if any(str(v) for v in row):
                return [str(v).strip() for v in row]
    except Exception:
        raise AppError("import.file_unreadable", 422) from None
    raise AppError("import.empty", 422)


def check_header(kind: str, header: list[str]) -> None:
    missing = [c.header for c in COLUMNS[kind] if c.required and c.header not in header]
    if missing:
        raise AppError(
            "import.columns_missing",
            422,
            errors=[FieldError(col, "missing") for col in missing],
            columns="、".join(missing),
        )


# --- validation ----------------------------------------------------------------------------


@dataclass
class RowProblem:
    row: int
    field: str
    message: str


@dataclass
class Parsed:
    row: int
    values: list[Any]
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)

    def fail(self, column: str, code: str, **params: Any) -> None:
        self.problems.append(
            RowProblem(self.row, column, message(code, "zh", catalog=FIELD_MESSAGES, **params))
        )


def _as_text(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip() if value is not None else ""


def _date(parsed: Parsed, column: str, value: Any) -> date | None:
    if value in ("", None):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(_as_text(value).replace("/", "-"))
    except ValueError:
        parsed.fail(column, "date_invalid")
        return None


def _int(parsed: Parsed, column: str, value: Any, low: int, high: int) -> int | None:
    if value in ("", None):
        return None
    try:
        number = int(float(_as_text(value)))
    except ValueError:
        parsed.fail(column, "number_invalid")
        return None
    if not low <= number <= high:
        parsed.fail(column, "number_invalid")
        return None
    return number


def _float(parsed: Parsed, column: str, value: Any) -> float | None:
    if value in ("", None):
        return None
    try:
        return float(_as_text(value))
    except ValueError:
        parsed.fail(column, "number_invalid")
        return None


def _required(parsed: Parsed, column: Column, raw: dict[str, Any], max_len: int) -> str:
    text = _as_text(raw.get(column.key))
    if column.required and not text:
        parsed.fail(column.header, "missing")
    elif len(text) > max_len:
        parsed.fail(column.header, "string_too_long", max_length=max_len)
    return text


@dataclass
class Context:
    """What validation needs to know beyond the row: the caller's scope, the communities
    and tags that exist, and the ID numbers seen earlier in this file."""

    scope: list[str]
    unrestricted: bool
    communities: set[str]
    tags_by_name: dict[str, str]
    cipher: PiiCipher
    today: date
    seen_ids: dict[str, int] = field(default_factory=dict)

    def reaches(self, code: str) -> bool:
        return self.unrestricted or any(code.startswith(p) for p in self.scope)


def _community(parsed: Parsed, ctx: Context, value: str) -> str:
    if value and (value not in ctx.communities or not ctx.reaches(value)):
        parsed.fail("社区代码", "area_not_found")
    return value


def parse_resident(row: int, values: list[Any], index: dict[str, int], ctx: Context) -> Parsed:
    parsed = Parsed(row, values)
    raw = {
        c.key: values[index[c.header]]
        if c.header in index and index[c.header] < len(values)
        else ""
        for c in COLUMNS["residents"]
    }
    cols = {c.key: c for c in COLUMNS["residents"]}
    name = _required(parsed, cols["name"], raw, 50)
    id_text = _as_text(raw["id_number"])
    citizen = None
    if not id_text:
        parsed.fail("身份证号", "missing")
    else:
        try:
            citizen = parse_id_number(id_text, ctx.today)
        except InvalidValue as exc:
            parsed.fail("身份证号", exc.code, reason=exc.reason.zh)
    phone = None
    if _as_text(raw["phone"]):
        try:
            phone = normalize_mobile(_as_text(raw["phone"]))
        except InvalidValue:
            parsed.fail("手机号", "phone_invalid")
    community = _community(parsed, ctx, _required(parsed, cols["community_code"], raw, 12))
    residence = _as_text(raw["residence_type"]) or "常住"
    if residence not in _RESIDENCE_NAMES:
        parsed.fail("居住类型", "residence_type_invalid")
    tags = []
    for label in filter(None, _TAG_SPLIT.split(_as_text(raw["tags"]))):
        code = ctx.tags_by_name.get(label)
        if code is None:
            parsed.fail("标签", "tag_unknown", tags=label)
        else:
            tags.append(code)
    moved_in = _date(parsed, "迁入日期", raw["moved_in_on"])
    building = _as_text(raw["building"])[:100]
    door = _as_text(raw["door_no"])[:50]
    relation = _as_text(raw["relation_to_head"])[:20] or None
    if citizen is not None:
        id_index = ctx.cipher.blind_index(citizen.number, "id_number")
        first = ctx.seen_ids.get(id_index)
        if first is not None:
            parsed.fail("身份证号", "duplicate_in_file", row=first)
        elif not parsed.problems:
            ctx.seen_ids[id_index] = row
    if parsed.problems:
        return parsed
    parsed.data = {
        "name": name,
        "community_code": community,
        "residence_type": _RESIDENCE_NAMES[residence],
        "relation_to_head": relation,
        "moved_in_on": moved_in,
        "tags": sorted(set(tags)),
        "building": building,
        "door_no": door,
        "id_number_index": id_index,
        # Sealed here, in the parsing thread, while the database digests the last batch.
        "sealed_id": seal_id_number(ctx.cipher, citizen, id_index),
        "sealed_phone": seal_phone(ctx.cipher, phone),
    }
    return parsed


def parse_generic(
    kind: str, row: int, values: list[Any], index: dict[str, int], ctx: Context
) -> Parsed:
    parsed = Parsed(row, values)
    columns = {c.key: c for c in COLUMNS[kind]}
    raw = {
        c.key: values[index[c.header]]
        if c.header in index and index[c.header] < len(values)
        else ""
        for c in COLUMNS[kind]
    }
    data: dict[str, Any] = {}
    data["community_code"] = _community(
        parsed, ctx, _required(parsed, columns["community_code"], raw, 12)
    )
    if kind == "buildings":
        data["name"] = _required(parsed, columns["name"], raw, 100)
        data["address"] = _as_text(raw["address"])[:255] or None
        data["floors"] = _int(parsed, "层数", raw["floors"], 1, 200)
        lat, lng = _float(parsed, "纬度", raw["lat"]), _float(parsed, "经度", raw["lng"])
        system = (_as_text(raw["coord_system"]) or "wgs84").lower()
        if system not in ("wgs84", "gcj02"):
            parsed.fail("坐标系", "literal_error", expected="wgs84, gcj02")
        elif (lat is None) != (lng is None):
            parsed.fail("经度" if lng is None else "纬度", "missing")
        elif lat is not None and lng is not None:
            from services.common.geo import in_china_box, to_wgs84

            if not in_china_box(lat, lng):
                parsed.fail("纬度", "outside_china")
            else:
                lat, lng = to_wgs84(lat, lng, system)  # type: ignore[arg-type]
        data["lat"], data["lng"] = lat, lng
    elif kind == "households":
        data["building"] = _required(parsed, columns["building"], raw, 100)
        data["door_no"] = _required(parsed, columns["door_no"], raw, 50)
        data["head_name"] = _as_text(raw["head_name"])[:50] or None
    elif kind == "units":
        data["name"] = _required(parsed, columns["name"], raw, 200)
        try:
            data["uscc"] = normalize_uscc(_as_text(raw["uscc"]))
        except InvalidValue as exc:
            parsed.fail("统一社会信用代码", exc.code, reason=exc.reason.zh)
        category = _as_text(raw["category"])
        if category not in _CATEGORY_NAMES:
            parsed.fail("单位类别", "category_invalid")
        else:
            data["category"] = _CATEGORY_NAMES[category]
        data["address"] = _as_text(raw["address"])[:255] or None
        data["contact_name"] = _as_text(raw["contact_name"])[:50] or None
        data["contact_phone"] = None
        if _as_text(raw["contact_phone"]):
            try:
                data["contact_phone"] = normalize_mobile(_as_text(raw["contact_phone"]))
            except InvalidValue:
                parsed.fail("联系电话", "phone_invalid")
        data["party_org_name"] = _as_text(raw["party_org_name"])[:200] or None
        data["party_member_count"] = _int(parsed, "党员人数", raw["party_member_count"], 0, 100_000)
    if not parsed.problems:
        parsed.data = data
    return parsed


# --- writing -------------------------------------------------------------------------------


@dataclass
class Tally:
    total: int = 0
    imported: int = 0
    unchanged: int = 0
    failed: int = 0
    kept_errors: int = 0


class Writer:
    """Writes one batch of parsed rows in one transaction."""

    def __init__(self, database: Database, cipher: PiiCipher, job: ImportJob) -> None:
        self.database = database
        self.cipher = cipher
        self.job_id = job.id
        self.buildings: dict[tuple[str, str], str] = {}
        self.households: dict[tuple[str, str], str] = {}
        self.loaded: set[str] = set()
        self.deltas: Counter = Counter()  # population counts changed by the current batch

    async def _load_communities(self, session, communities: set[str]) -> None:
        """Buildings and households of each community, read once per import: rows of one
        community are usually many, and a lookup per batch costs more than this."""
        wanted = [c for c in communities if c not in self.loaded]
        if not wanted:
            return
        for bid, community, name in await session.execute(
            select(Building.id, Building.community_code, Building.name).where(
                Building.deleted_at.is_(None), Building.community_code.in_(wanted)
            )
        ):
            self.buildings.setdefault((community, name), bid)
        for hid, building_id, door in await session.execute(
            select(Household.id, Household.building_id, Household.door_no).where(
                Household.community_code.in_(wanted)
            )
        ):
            self.households.setdefault((building_id, door), hid)
        self.loaded.update(wanted)

    async def _building_ids(self, session, keys: set[tuple[str, str]], create: bool) -> None:
        await self._load_communities(session, {c for c, _ in keys})
        missing = [k for k in keys if k not in self.buildings]
        if create and missing:
            now = clock.now()
            new_rows = [
                {
                    "id": new_id(),
                    "community_code": c,
                    "name": n,
                    "created_at": now,
                    "updated_at": now,
                }
                for c, n in missing
            ]
            await bulk_insert(session, Building.__table__, new_rows)
            for r in new_rows:
                self.buildings[(r["community_code"], r["name"])] = r["id"]

    async def _household_ids(self, session, keys: set[tuple[str, str, str]]) -> None:
        """keys: (community, building_id, door_no); households are created on first sight."""
        await self._load_communities(session, {k[0] for k in keys})
        now = clock.now()
        new_rows = [
            {
                "id": new_id(),
                "community_code": c,
                "building_id": b,
                "door_no": d,
                "head_name": None,
                "created_at": now,
                "updated_at": now,
            }
            for c, b, d in keys
            if (b, d) not in self.households
        ]
        if new_rows:
            await bulk_insert(session, Household.__table__, new_rows)
            for r in new_rows:
                self.households[(r["building_id"], r["door_no"])] = r["id"]
                self.deltas[counts.household_key(r["community_code"])] += 1

    async def write(self, kind: str, batch: list[Parsed], tally: Tally) -> None:
        good = [p for p in batch if not p.problems]
        # Writing may find more problems (a person registered elsewhere): errors come after.
        async with self.database.transaction() as session:
            if not self.database.is_sqlite:
                # The tables grow under this import: a plan cached when they were small
                # (a scan) must not serve the lookups once they are large.
                await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            if kind == "residents":
                await self._write_residents(session, good, tally)
            elif kind == "buildings":
                await self._write_buildings(session, good, tally)
            elif kind == "households":
                await self._write_households(session, good, tally)
            else:
                await self._write_units(session, good, tally)
            await counts.add(session, self.deltas)
            self.deltas = Counter()
            await self._write_errors(session, [p for p in batch if p.problems], tally)
            tally.total += len(batch)
            await session.execute(
                update(ImportJob)
                .where(ImportJob.id == self.job_id)
                .values(
                    total=tally.total,
                    imported=tally.imported,
                    unchanged=tally.unchanged,
                    failed=tally.failed,
                )
            )

    async def _write_errors(self, session, bad: list[Parsed], tally: Tally) -> None:
        rows = []
        for parsed in bad:
            tally.failed += 1
            for problem in parsed.problems:
                if tally.kept_errors >= MAX_ERRORS_KEPT:
                    break
                tally.kept_errors += 1
                rows.append(
                    {
                        "job_id": self.job_id,
                        "row": problem.row,
                        "field": problem.field,
                        "message": problem.message[:255],
                        "values": [_as_text(v) for v in parsed.values],
                    }
                )
        if rows:
            await session.execute(insert(ImportError_.__table__), rows)

    async def _write_residents(self, session, good: list[Parsed], tally: Tally) -> None:
        if not good:
            return
        await self._building_ids(
            session,
            {(p.data["community_code"], p.data["building"]) for p in good if p.data["building"]},
            True,
        )
        await self._household_ids(
            session,
            {
                (
                    p.data["community_code"],
                    self.buildings[(p.data["community_code"], p.data["building"])],
                    p.data["door_no"],
                )
                for p in good
                if p.data["building"] and p.data["door_no"]
            },
        )
        indexes = [p.data["id_number_index"] for p in good]
        # By the blind index alone, so the planner takes that index even before the table has
        # statistics; moved-out rows are dropped here.
        found = await session.execute(
            select(
                Resident.id,
                Resident.id_number_index,
                Resident.community_code,
                Resident.name,
                Resident.phone_index,
                Resident.residence_type,
                Resident.relation_to_head,
                Resident.household_id,
                Resident.moved_in_on,
                Resident.status,
            ).where(one_of(session, Resident.id_number_index, indexes))
        )
        existing = {r.id_number_index: r for r in found if r.status == "current"}
        existing_tags: dict[str, set[str]] = {}
        if existing:
            for rid, tag in await session.execute(
                select(ResidentTag.resident_id, ResidentTag.tag).where(
                    ResidentTag.resident_id.in_([r.id for r in existing.values()])
                )
            ):
                existing_tags.setdefault(rid, set()).add(tag)

        now = clock.now()
        inserts, tag_rows, updates, retag = [], [], [], []
        for p in good:
            d = p.data
            building_id = (
                self.buildings.get((d["community_code"], d["building"])) if d["building"] else None
            )
            household_id = (
                self.households.get((building_id, d["door_no"]))
                if building_id and d["door_no"]
                else None
            )
            phone_index = d["sealed_phone"]["phone_index"]
            old = existing.get(d["id_number_index"])
            if old is not None:
                if old.community_code != d["community_code"]:
                    p.fail("身份证号", "registered_elsewhere")
                    continue
                same = (
                    old.name == d["name"]
                    and old.phone_index == phone_index
                    and old.residence_type == d["residence_type"]
                    and old.relation_to_head == d["relation_to_head"]
                    and (household_id is None or old.household_id == household_id)
                    and (d["moved_in_on"] is None or old.moved_in_on == d["moved_in_on"])
                    and existing_tags.get(old.id, set()) == set(d["tags"])
                )
                if same:
                    tally.unchanged += 1
                    continue
                values = {
                    "b_id": old.id,
                    "name": d["name"],
                    "residence_type": d["residence_type"],
                    "relation_to_head": d["relation_to_head"],
                    "household_id": household_id or old.household_id,
                    "building_id": building_id,
                    "moved_in_on": d["moved_in_on"] or old.moved_in_on,
                    "updated_at": now,
                    **d["sealed_phone"],
                }
                updates.append(values)
                if existing_tags.get(old.id, set()) != set(d["tags"]):
                    retag.append((old.id, d["community_code"], d["tags"]))
                self.deltas.update(
                    counts.resident_keys(d["community_code"], d["residence_type"], d["tags"])
                )
                self.deltas.subtract(
                    counts.resident_keys(
                        old.community_code, old.residence_type, existing_tags.get(old.id, ())
                    )
                )
                tally.imported += 1
                continue
            rid = new_id()
            inserts.append(
                {
                    "id": rid,
                    "community_code": d["community_code"],
                    "household_id": household_id,
                    "building_id": building_id,
                    "name": d["name"],
                    "relation_to_head": d["relation_to_head"],
                    "residence_type": d["residence_type"],
                    "moved_in_on": d["moved_in_on"],
                    "status": "current",
                    "created_at": now,
                    "updated_at": now,
                    **d["sealed_id"],
                    **d["sealed_phone"],
                }
            )
            tag_rows.extend(
                {
                    "resident_id": rid,
                    "tag": t,
                    "community_code": d["community_code"],
                    "current": True,
                }
                for t in d["tags"]
            )
        if inserts:
            try:
                async with session.begin_nested():
                    await bulk_insert(session, Resident.__table__, inserts)
            except IntegrityError:
                # Someone registered one of these people meanwhile: go row by row.
                inserts, tag_rows = await self._insert_one_by_one(session, good, inserts, tag_rows)
            tally.imported += len(inserts)
            for row in inserts:
                self.deltas[(row["community_code"], "residence", row["residence_type"])] += 1
            for tag in tag_rows:
                self.deltas[(tag["community_code"], "tag", tag["tag"])] += 1
        await bulk_insert(session, ResidentTag.__table__, tag_rows)
        if updates:
            columns = [k for k in updates[0] if k != "b_id"]
            await session.execute(
                update(Resident.__table__)
                .where(Resident.__table__.c.id == bindparam("b_id"))
                .values({c: bindparam(c) for c in columns}),
                updates,
            )
        for rid, community, tags in retag:
            await session.execute(
                ResidentTag.__table__.delete().where(ResidentTag.resident_id == rid)
            )
            if tags:
                await session.execute(
                    insert(ResidentTag.__table__),
                    [
                        {"resident_id": rid, "tag": t, "community_code": community, "current": True}
                        for t in tags
                    ],
                )

    async def _insert_one_by_one(self, session, good, inserts, tag_rows):
        by_index = {p.data["id_number_index"]: p for p in good}
        kept, kept_ids = [], set()
        for row in inserts:
            try:
                async with session.begin_nested():
                    await session.execute(insert(Resident.__table__), [row])
                kept.append(row)
                kept_ids.add(row["id"])
            except IntegrityError:
                by_index[row["id_number_index"]].fail("身份证号", "registered_elsewhere")
        return kept, [t for t in tag_rows if t["resident_id"] in kept_ids]

    # Buildings, households and units: one read for the batch, then one bulk insert and one
    # executemany update, as for residents (a household roster runs to thousands of rows).

    async def _write_buildings(self, session, good: list[Parsed], tally: Tally) -> None:
        keys = {(p.data["community_code"], p.data["name"]) for p in good}
        await self._building_ids(session, keys, False)
        known = [self.buildings[k] for k in keys if k in self.buildings]
        current = {
            b.id: b
            for b in await session.execute(
                select(
                    Building.id, Building.address, Building.floors, Building.lat, Building.lng
                ).where(Building.id.in_(known))
            )
        }
        now = clock.now()
        new_rows: dict[tuple[str, str], dict] = {}
        updates: dict[str, dict] = {}
        for p in good:
            d = p.data
            key = (d["community_code"], d["name"])
            fields = {k: d[k] for k in ("address", "floors", "lat", "lng") if d[k] is not None}
            if key in new_rows:  # named twice in this batch: the later row wins
                new_rows[key].update(fields)
            elif key in self.buildings:
                bid = self.buildings[key]
                before = updates.get(bid) or current[bid]._asdict()
                if all(before[k] == v for k, v in fields.items()):
                    tally.unchanged += 1
                    continue
                updates[bid] = {**before, **fields}
            else:
                new_rows[key] = {
                    "id": new_id(),
                    "community_code": key[0],
                    "name": key[1],
                    "address": None,
                    "floors": None,
                    "lat": None,
                    "lng": None,
                    "created_at": now,
                    "updated_at": now,
                    **fields,
                }
            tally.imported += 1
        await bulk_insert(session, Building.__table__, list(new_rows.values()))
        for row in new_rows.values():
            self.buildings[(row["community_code"], row["name"])] = row["id"]
        await _update_by_id(session, Building.__table__, updates.values(), now)

    async def _write_households(self, session, good: list[Parsed], tally: Tally) -> None:
        await self._building_ids(
            session, {(p.data["community_code"], p.data["building"]) for p in good}, False
        )
        known = []
        for p in good:
            building_id = self.buildings.get((p.data["community_code"], p.data["building"]))
            if building_id is None:
                p.fail("楼栋", "building_unknown")
            elif (building_id, p.data["door_no"]) in self.households:
                known.append(self.households[(building_id, p.data["door_no"])])
        heads = dict(
            (
                await session.execute(
                    select(Household.id, Household.head_name).where(Household.id.in_(known))
                )
            ).all()
        )
        now = clock.now()
        new_rows: dict[tuple[str, str], dict] = {}
        updates: dict[str, dict] = {}
        for p in good:
            if p.problems:
                continue
            d = p.data
            building_id = self.buildings[(d["community_code"], d["building"])]
            key = (building_id, d["door_no"])
            if key in new_rows:
                new_rows[key]["head_name"] = d["head_name"] or new_rows[key]["head_name"]
            elif key in self.households:
                hid = self.households[key]
                head = updates.get(hid, {}).get("head_name", heads.get(hid))
                if d["head_name"] in (None, head):
                    tally.unchanged += 1
                    continue
                updates[hid] = {"id": hid, "head_name": d["head_name"]}
            else:
                new_rows[key] = {
                    "id": new_id(),
                    "community_code": d["community_code"],
                    "building_id": building_id,
                    "door_no": d["door_no"],
                    "head_name": d["head_name"],
                    "created_at": now,
                    "updated_at": now,
                }
                self.deltas[counts.household_key(d["community_code"])] += 1
            tally.imported += 1
        await bulk_insert(session, Household.__table__, list(new_rows.values()))
        for row in new_rows.values():
            self.households[(row["building_id"], row["door_no"])] = row["id"]
        await _update_by_id(session, Household.__table__, updates.values(), now)

    async def _write_units(self, session, good: list[Parsed], tally: Tally) -> None:
        columns = [c for c in Unit.__table__.c if c.name not in ("created_at", "updated_at")]
        existing = {
            u.uscc: u._asdict()
            for u in await session.execute(
                select(*columns).where(Unit.uscc.in_([p.data["uscc"] for p in good]))
            )
        }
        now = clock.now()
        new_rows: dict[str, dict] = {}
        updates: dict[str, dict] = {}
        for p in good:
            d = dict(p.data)
            phone = d.pop("contact_phone")
            masked = mask_phone(phone)
            if d["uscc"] in new_rows:
                target = new_rows[d["uscc"]]
            elif d["uscc"] in existing:
                target = updates.get(existing[d["uscc"]]["id"], existing[d["uscc"]])
                if target["community_code"] != d["community_code"]:
                    p.fail("统一社会信用代码", "unit_exists")
                    continue
                if all(target[k] == v for k, v in d.items()) and (
                    not phone or target["contact_phone_masked"] == masked
                ):
                    tally.unchanged += 1
                    continue
                target = updates.setdefault(target["id"], dict(target))
            else:
                target = new_rows[d["uscc"]] = {
                    "id": new_id(),
                    "contact_phone_enc": None,
                    "contact_phone_masked": None,
                    "created_at": now,
                    "updated_at": now,
                }
            target.update(d)
            if phone:
                target["contact_phone_enc"] = self.cipher.encrypt(phone, "phone")
                target["contact_phone_masked"] = masked
            tally.imported += 1
        await bulk_insert(session, Unit.__table__, list(new_rows.values()))
        await _update_by_id(session, Unit.__table__, updates.values(), now)


async def _update_by_id(session, table, rows, now) -> None:
    """Rows (dicts with ``id`` and the columns to set) written in one executemany."""
    rows = [{**{k: v for k, v in r.items() if k != "id"}, "b_id": r["id"]} for r in rows]
    if not rows:
        return
    columns = [k for k in rows[0] if k != "b_id"]
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({**{c: bindparam(c) for c in columns}, "updated_at": now}),
        rows,
    )


async def _context(database: Database, job: ImportJob, cipher: PiiCipher, today: date) -> Context:
    async with database.transaction(write=False) as session:
        communities = set(
            (await session.scalars(select(Area.code).where(Area.level == "community"))).all()
        )
        tags = {}
        for code, name in await session.execute(select(TagDefinition.code, TagDefinition.name)):
            tags[code] = code
            tags[name] = code
    scope = list(job.scope or [])
    return Context(
        scope=[s for s in scope if s != "*"],
        unrestricted="*" in scope,
        communities=communities,
        tags_by_name=tags,
        cipher=cipher,
        today=today,
    )


def parse_chunk(
    kind: str, chunk: list, start: int, index: dict[str, int], ctx: Context
) -> list[Parsed]:
    out = []
    for offset, values in enumerate(chunk, start=1):
        if not any(_as_text(v) for v in values):
            continue  # blank lines are not rows
        if kind == "residents":
            out.append(parse_resident(start + offset, values, index, ctx))
        else:
            out.append(parse_generic(kind, start + offset, values, index, ctx))
    return out


def _parsed_batches(path: Path, kind: str, ctx: Context) -> Iterator[list[Parsed]]:
    """The parsed rows of each batch of the file, header checked first."""
    rows = open_rows(path)
    header = [str(h).strip() for h in next(rows)]
    check_header(kind, header)
    index = {h: i for i, h in enumerate(header) if h}
    row_number = 1
    while chunk := list(islice(rows, BATCH_ROWS)):
        yield parse_chunk(kind, chunk, row_number, index, ctx)
        row_number += len(chunk)


async def _in_thread(path: Path, kind: str, ctx: Context):
    """Small files: read and parse in a worker thread, one batch ahead of the writer."""
    batches = _parsed_batches(path, kind, ctx)
    done = object()

    def step():
        return next(batches, done)

    upcoming = asyncio.ensure_future(anyio.to_thread.run_sync(step))
    try:
        while (item := await upcoming) is not done:
            upcoming = asyncio.ensure_future(anyio.to_thread.run_sync(step))
            yield item
    finally:
        upcoming.cancel()


async def run_import(database: Database, cipher: PiiCipher, job_id: str) -> None:
    """Process an import job from its stored file to the end."""
    async with database.transaction() as session:
        job = await session.get(ImportJob, job_id)
        if job is None or job.status not in ("queued",):
            return
        job.status = "running"
    tally = Tally()
    try:
        ctx = await _context(database, job, cipher, clock.today())
        writer = Writer(database, cipher, job)
        # A pipeline of two: the next batch is parsed while this one is written. (A parser
        # process instead of the thread was measured slower: pickling the parsed rows back
        # cost more than the GIL it freed.)
        async for batch in _in_thread(Path(job.file_path), job.kind, ctx):
            if batch:
                await writer.write(job.kind, batch, tally)
        status, note = "done", None
    except AppError as exc:
        status, note = "failed", message(exc.code, "zh", **exc.params)
    except Exception:
        log.exception("import failed", extra={"job": job_id})
        status, note = "failed", message("server.error", "zh")
    if not database.is_sqlite and tally.imported:
        async with database.engine.connect() as conn:  # fresh statistics for what came in
            await conn.execute(text("ANALYZE residents, resident_tags, households, buildings"))
            await conn.commit()
    async with database.transaction() as session:
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(
                status=status,
                message=note,
                finished_at=clock.now(),
                total=tally.total,
                imported=tally.imported,
                unchanged=tally.unchanged,
                failed=tally.failed,
            )
        )


# --- spreadsheets out ----------------------------------------------------------------------

_HEADER_FONT = Font(bold=True)
_REQUIRED_FILL = PatternFill("solid", fgColor="FFF2CC")


def template_xlsx(kind: str) -> bytes:
    """The template a community worker fills in: required columns shaded, ID and phone
    columns formatted as text so Excel does not turn them into numbers."""
    wb = Workbook()
    ws = wb.active
    ws.title = kind
    for i, column in enumerate(COLUMNS[kind], start=1):
        cell = ws.cell(row=1, column=i, value=column.header)
        cell.font = _HEADER_FONT
        if column.required:
            cell.fill = _REQUIRED_FILL
        letter = cell.column_letter
        ws.column_dimensions[letter].width = max(12, len(column.header) * 3)
        if column.text:
            for r in range(2, 1002):
                ws.cell(row=r, column=i).number_format = "@"
    notes = wb.create_sheet("说明")
    notes.append(["列名", "必填", "说明"])
    for column in COLUMNS[kind]:
        notes.append([column.header, "是" if column.required else "否", column.note])
    if kind == "residents":
        notes.append([])
        notes.append(["居住类型", "", " / ".join(rules.RESIDENCE_TYPES.values())])
        notes.append(["标签", "", " / ".join(name for _, name in rules.BUILTIN_TAGS)])
    if kind == "units":
        notes.append([])
        notes.append(["单位类别", "", " / ".join(rules.UNIT_CATEGORIES.values())])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def errors_xlsx(header: list[str], errors: list[ImportError_]) -> bytes:
    """The bad rows as they were, with an error column: fix them and import this file."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("待修正")
    ws.append([*header, "错误"])
    grouped: dict[int, tuple[list, list[str]]] = {}
    for err in errors:
        values, messages = grouped.setdefault(err.row, (err.values, []))
        messages.append(f"{err.field}:{err.message}")
    for row in sorted(grouped):
        values, messages = grouped[row]
        ws.append([*values[: len(header)], *[""] * (len(header) - len(values)), ";".join(messages)])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
