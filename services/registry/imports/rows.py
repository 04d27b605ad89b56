"""One row of a roster, validated: its values as stored, or the problems found with them
(each naming its column, in Chinese, for the error spreadsheet)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from services.common.i18n import FIELD_MESSAGES, choices_zh, message
from services.common.pii import PiiCipher
from services.common.validators import (
    InvalidValue,
    normalize_mobile,
    normalize_uscc,
    parse_id_number,
)
from services.registry import (
    messages,  # noqa: F401 - the sentences a row is refused with
    rules,
)
from services.registry.imports.columns import COLUMNS, GENDERS, Column
from services.registry.personal import seal_id_number, seal_phone

# The coordinate systems a building row may name (GPS, or the Mars coordinates of Chinese maps).
SYSTEMS = ["wgs84", "gcj02"]
_TAG_SPLIT = re.compile(r"[,，、;；\s]+")
_RESIDENCE_NAMES = {v: k for k, v in rules.RESIDENCE_TYPES.items()} | {
    k: k for k in rules.RESIDENCE_TYPES
}
_CATEGORY_NAMES = {v: k for k, v in rules.UNIT_CATEGORIES.items()} | {
    k: k for k in rules.UNIT_CATEGORIES
}


@dataclass
class RowProblem:
    row: int
    field: str
    message: str
    code: str = ""


@dataclass
class Parsed:
    row: int
    values: list[Any]
    # A resident's row as ``RosterResident``, another kind's as a dict; empty when refused.
    data: Any = field(default_factory=dict)
    problems: list[RowProblem] = field(default_factory=list)
    # (community, building) the row names, kept when it fails for another reason: the
    # writer checks the building against the database for it too, so that one error sheet
    # names every problem of the row (a bad phone and an unknown building, at once).
    place: tuple[str, str] | None = None

    def fail(self, column: str, code: str, **params: Any) -> None:
        self.problems.append(
            RowProblem(
                self.row, column, message(code, "zh", catalog=FIELD_MESSAGES, **params), code
            )
        )


# The personal columns of a resident as ``seal_id_number`` and ``seal_phone`` give them.
SEALED_COLUMNS = (
    "id_number_enc",
    "id_number_index",
    "id_number_masked",
    "gender",
    "birth_date",
    "phone_enc",
    "phone_index",
    "phone_masked",
)
PHONE_COLUMNS = SEALED_COLUMNS[5:]


class RosterResident(NamedTuple):
    """A resident's row, validated and sealed: what the writer stores. A tuple, so that a
    batch crosses from the parsing process cheaply (a dict a row took twice as long)."""

    name: str
    community_code: str
    residence_type: str
    relation_to_head: str | None
    moved_in_on: date | None
    tags: list[str]  # codes, sorted
    building: str
    door_no: str
    # How the writer matches them with what exists, worked out here, in the parser.
    building_key: tuple[str, str] | None
    door_key: str
    id_number_index: str
    # Sealed here, beside the database's work on the last batch; in ``SEALED_COLUMNS`` order.
    sealed: tuple


def spaceless(text: str) -> str:
    """A building or door as matched: whitespace inside dropped, full-width spaces too (8号 楼
    is 8号楼), since a stray space is how a roster typed by hand most often differs."""
    return "".join(text.split())


def as_text(value: Any) -> str:
    if value.__class__ is str:  # nearly every cell: a CSV's all are
        return value.strip()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip() if value is not None else ""


# A day as rosters write it: 2024-03-01, 2024/3/1 (Excel's CSV), 2024.3.1, 2024年3月1日,
# 20240301; a time after it (Excel's "2024/3/1 0:00") is dropped.
_DAY = re.compile(r"^(\d{4})(?:[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{2})(\d{2}))(?:\s.*)?$")


def parse_roster_day(text: str) -> date:
    """The day a roster's cell names, or ValueError."""
    match = _DAY.match(unicodedata.normalize("NFKC", text).strip())
    if not match:
        raise ValueError(text)
    year, month, day = (
        match.group(1),
        match.group(2) or match.group(4),
        match.group(3) or match.group(5),
    )
    return date(int(year), int(month), int(day))


def _date(parsed: Parsed, column: str, value: Any) -> date | None:
    if value in ("", None):
        return None
    if isinstance(value, date):
        return value
    text = as_text(value)
    try:
        return parse_roster_day(text)
    except ValueError:
        parsed.fail(column, "date_invalid", value=text[:20])
        return None


def _int(parsed: Parsed, column: str, value: Any, low: int, high: int) -> int | None:
    if value in ("", None):
        return None
    try:
        number = int(float(as_text(value)))
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
        return float(as_text(value))
    except ValueError:
        parsed.fail(column, "number_invalid")
        return None


def _required(parsed: Parsed, column: Column, raw: dict[str, Any], max_len: int) -> str:
    return _checked(parsed, column, as_text(raw.get(column.key)), max_len)


def _checked(parsed: Parsed, column: Column, text: str, max_len: int) -> str:
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
    # The longest cell a row may hold (``import_max_cell_chars``): a CSV is refused whole
    # past it before it is stored; an xlsx's longer cells are row errors (a sheet may hold
    # 32,767 characters in a cell, and its shared strings are bounded only in total).
    max_cell_chars: int | None = None
    seen_ids: dict[str, int] = field(default_factory=dict)
    # Whether each community code named so far exists and is the caller's: a roster names a
    # few hundred communities in 100,000 rows.
    _known: dict[str, bool] = field(default_factory=dict)

    def reaches(self, code: str) -> bool:
        return self.unrestricted or any(code.startswith(p) for p in self.scope)

    def community_known(self, code: str) -> bool:
        known = self._known.get(code)
        if known is None:
            known = self._known[code] = code in self.communities and self.reaches(code)
        return known


def _community(parsed: Parsed, ctx: Context, value: str) -> str:
    if value and not ctx.community_known(value):
        parsed.fail("社区代码", "area_not_found")
    return value


_RESIDENT_COLUMNS = {c.key: c for c in COLUMNS["residents"]}


def positions(kind: str, index: dict[str, int]) -> dict[str, int | None]:
    """Where each column of ``kind`` is in the file's rows (None: the file lacks it), from
    the header's ``index``; worked out once for a file, not for each row."""
    return {c.key: index.get(c.header) for c in COLUMNS[kind]}


def _values_at(values: list[Any], at: dict[str, int | None]) -> dict[str, Any]:
    n = len(values)
    return {key: values[i] if i is not None and i < n else "" for key, i in at.items()}


def parse_resident(row: int, values: list[Any], at: dict[str, int | None], ctx: Context) -> Parsed:
    parsed = Parsed(row, values)
    raw = _values_at(values, at)
    cols = _RESIDENT_COLUMNS
    name = _checked(parsed, cols["name"], as_text(raw["name"]), 50)
    id_text = as_text(raw["id_number"])
    citizen = None
    if not id_text:
        parsed.fail("身份证号", "missing")
    else:
        try:
            citizen = parse_id_number(id_text, ctx.today)
        except InvalidValue as exc:
            parsed.fail("身份证号", exc.code, reason=exc.reason.zh)
    gender = as_text(raw["gender"])
    if gender:
        if GENDERS.get(gender, gender) not in GENDERS.values():
            parsed.fail("性别", "gender_invalid")
        elif citizen is not None and GENDERS.get(gender, gender) != citizen.gender:
            parsed.fail("性别", "gender_mismatch")
    phone = None
    phone_text = as_text(raw["phone"])
    if phone_text:
        try:
            phone = normalize_mobile(phone_text)
        except InvalidValue:
            parsed.fail("手机号", "phone_invalid")
    community = _community(
        parsed, ctx, _checked(parsed, cols["community_code"], as_text(raw["community_code"]), 12)
    )
    residence_text = as_text(raw["residence_type"])
    residence = residence_text or "常住"
    if residence not in _RESIDENCE_NAMES:
        parsed.fail("居住类型", "residence_type_invalid")
    tags = []
    floating = False
    tags_text = as_text(raw["tags"])
    if tags_text:
        for label in filter(None, _TAG_SPLIT.split(tags_text)):
            # 流动人口 among the tags is the residence type, as ``?tag=流动人口`` takes it.
            if label in rules.FLOATING_NAMES:
                floating = True
                continue
            code = ctx.tags_by_name.get(label)
            if code is None:
                parsed.fail("标签", "tag_unknown", tags=label)
            else:
                tags.append(code)
    if floating:
        if residence_text and _RESIDENCE_NAMES.get(residence_text) not in (None, rules.FLOATING):
            parsed.fail("居住类型", "residence_type_not_floating", value=residence_text)
        residence = rules.FLOATING
    moved_in = _date(parsed, "迁入日期", raw["moved_in_on"])
    if moved_in is not None and moved_in > ctx.today:
        parsed.fail("迁入日期", "day_in_future", today=ctx.today.isoformat())
    building = as_text(raw["building"])[:100]
    door = as_text(raw["door_no"])[:50]
    relation = as_text(raw["relation_to_head"])[:20] or None
    if building and community and ctx.community_known(community):
        parsed.place = (community, building)
    if citizen is not None:
        id_index = ctx.cipher.blind_index(citizen.number, "id_number")
        first = ctx.seen_ids.get(id_index)
        if first is not None:
            parsed.fail("身份证号", "duplicate_in_file", row=first)
        elif not parsed.problems:
            ctx.seen_ids[id_index] = row
    if parsed.problems:
        return parsed
    sealed_id = seal_id_number(ctx.cipher, citizen, id_index)
    sealed_phone = seal_phone(ctx.cipher, phone)
    parsed.data = RosterResident(
        name=name,
        community_code=community,
        residence_type=_RESIDENCE_NAMES[residence],
        relation_to_head=relation,
        moved_in_on=moved_in,
        tags=sorted(set(tags)) if tags else tags,
        building=building,
        door_no=door,
        building_key=(community, spaceless(building)) if building else None,
        door_key=spaceless(door),
        id_number_index=id_index,
        sealed=(*sealed_id.values(), *sealed_phone.values()),
    )
    return parsed


def parse_generic(
    kind: str, row: int, values: list[Any], at: dict[str, int | None], ctx: Context
) -> Parsed:
    parsed = Parsed(row, values)
    columns = {c.key: c for c in COLUMNS[kind]}
    raw = _values_at(values, at)
    data: dict[str, Any] = {}
    data["community_code"] = _community(
        parsed, ctx, _required(parsed, columns["community_code"], raw, 12)
    )
    if kind == "buildings":
        data["name"] = _required(parsed, columns["name"], raw, 100)
        data["address"] = as_text(raw["address"])[:255] or None
        data["floors"] = _int(parsed, "层数", raw["floors"], 1, 200)
        lat, lng = _float(parsed, "纬度", raw["lat"]), _float(parsed, "经度", raw["lng"])
        system = (as_text(raw["coord_system"]) or "wgs84").lower()
        if system not in SYSTEMS:
            parsed.fail(
                "坐标系", "literal_error", expected="wgs84, gcj02", choices_zh=choices_zh(SYSTEMS)
            )
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
        data["head_name"] = as_text(raw["head_name"])[:50] or None
        if data["building"] and ctx.community_known(data["community_code"]):
            parsed.place = (data["community_code"], data["building"])
    elif kind == "units":
        data["name"] = _required(parsed, columns["name"], raw, 200)
        try:
            data["uscc"] = normalize_uscc(as_text(raw["uscc"]))
        except InvalidValue as exc:
            parsed.fail("统一社会信用代码", exc.code, reason=exc.reason.zh)
        category = as_text(raw["category"])
        if category not in _CATEGORY_NAMES:
            parsed.fail("单位类别", "category_invalid")
        else:
            data["category"] = _CATEGORY_NAMES[category]
        data["address"] = as_text(raw["address"])[:255] or None
        data["contact_name"] = as_text(raw["contact_name"])[:50] or None
        data["contact_phone"] = None
        if as_text(raw["contact_phone"]):
            try:
                data["contact_phone"] = normalize_mobile(as_text(raw["contact_phone"]))
            except InvalidValue:
                parsed.fail("联系电话", "phone_invalid")
        data["party_org_name"] = as_text(raw["party_org_name"])[:200] or None
        data["party_member_count"] = _int(parsed, "党员人数", raw["party_member_count"], 0, 100_000)
    if not parsed.problems:
        parsed.data = data
    return parsed


def _check_cell_lengths(parsed: Parsed, headers: list[str], most: int) -> None:
    """Each cell longer than ``most`` is a problem of its column, and the only one (what
    else is wrong with 2,000 characters is beside the point), unless the column's own,
    shorter limit says so already (a name: 50)."""
    for i, value in enumerate(parsed.values):
        if isinstance(value, str) and len(value) > most:
            column = headers[i] if i < len(headers) and headers[i] else f"第 {i + 1} 列"
            if any(p.field == column and p.code == "string_too_long" for p in parsed.problems):
                continue
            parsed.problems = [p for p in parsed.problems if p.field != column]
            parsed.fail(column, "string_too_long", max_length=most)


def _has_long_cell(values: list[Any], most: int) -> bool:
    return any(len(v) > most for v in values if isinstance(v, str))


def parse_chunk(
    kind: str, chunk: list, start: int, index: dict[str, int], ctx: Context
) -> list[Parsed]:
    out = []
    headers = [""] * (max(index.values(), default=-1) + 1)
    for header, i in index.items():
        headers[i] = header
    most = ctx.max_cell_chars
    at = positions(kind, index)
    for offset, values in enumerate(chunk, start=1):
        if not any(map(as_text, values)):
            continue  # blank lines are not rows
        if kind == "residents":
            parsed = parse_resident(start + offset, values, at, ctx)
        else:
            parsed = parse_generic(kind, start + offset, values, at, ctx)
        if most is not None and _has_long_cell(values, most):
            refused_before = bool(parsed.problems)
            _check_cell_lengths(parsed, headers, most)
            if not refused_before and isinstance(parsed.data, RosterResident):
                # refused after all: a later row with this ID number is no duplicate of it
                ctx.seen_ids.pop(parsed.data.id_number_index, None)
        out.append(parsed)
    return out
