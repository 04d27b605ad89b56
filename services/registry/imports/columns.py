"""The columns of each kind of roster, and the spreadsheets handed out: the template a
community worker fills in and the bad rows handed back to fix."""

from __future__ import annotations

import io
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from services.common.pii import mask_id_number, mask_phone
from services.common.spreadsheets import data_row
from services.registry import rules
from services.registry.models import ImportError_


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


# Columns that hold personal data: shown in full only to callers who may read it.
PERSONAL = {"id_number": mask_id_number, "phone": mask_phone, "contact_phone": mask_phone}


def errors_xlsx(
    kind: str, header: list[str], errors: list[ImportError_], cipher, reveal: bool
) -> bytes:
    """The bad rows as they were, with an error column: fix them and import this file. ID
    numbers and phones are masked unless ``reveal`` (the caller may read them, audited)."""
    from services.registry.imports.writing import open_row

    keys = {c.header: c.key for c in COLUMNS[kind]}
    maskers = {i: PERSONAL[keys[h]] for i, h in enumerate(header) if keys.get(h) in PERSONAL}
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("待修正")
    ws.append(data_row(ws, [*header, "错误"]))
    grouped: dict[int, tuple[list, list[str]]] = {}
    for err in errors:
        values, messages = grouped.setdefault(err.row, (open_row(cipher, err.values_enc), []))
        if not reveal:
            for i, mask in maskers.items():
                if i < len(values) and values[i]:
                    values[i] = mask(str(values[i]))
        messages.append(f"{err.field}:{err.message}")
    for row in sorted(grouped):
        values, messages = grouped[row]
        padded = [*values[: len(header)], *[""] * (len(header) - len(values))]
        ws.append(data_row(ws, [*padded, ";".join(messages)]))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
