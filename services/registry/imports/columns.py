"""The columns of each kind of roster, and the spreadsheets handed out: the template a
community worker fills in and the bad rows handed back to fix."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from services.common.pii import mask_id_number, mask_phone
from services.common.spreadsheets import data_row, set_data
from services.registry import rules

if TYPE_CHECKING:
    from services.registry.models import ImportError_


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    required: bool = False
    text: bool = False  # formatted as text in the template (IDs, phones, codes)
    note: str = ""
    choices: str = ""  # the drop-down list the template offers (a key of ``choice_lists``)


COLUMNS: dict[str, tuple[Column, ...]] = {
    "residents": (
        Column("姓名", "name", True),
        Column("身份证号", "id_number", True, True, "18 位,末位可为 X"),
        Column("性别", "gender", False, False, "男 / 女;可不填,填写的须与身份证号一致", "gender"),
        Column("手机号", "phone", False, True),
        Column("社区代码", "community_code", True, True, "12 位统计用区划代码"),
        Column(
            "楼栋",
            "building",
            False,
            False,
            "须为本社区已有的楼栋(先导入楼栋及其坐标);导入时选择新建楼栋才会自动建立",
        ),
        Column("门牌号", "door_no", False, False, "如 2单元301;同楼栋同门牌为一户"),
        Column("与户主关系", "relation_to_head", False, False, "可从下拉中选,也可填写", "relation"),
        Column(
            "居住类型",
            "residence_type",
            False,
            False,
            "户籍 / 常住 / 流动,默认常住",
            "residence_type",
        ),
        Column(
            "标签",
            "tags",
            False,
            False,
            "多个用逗号或顿号分隔,如 党员、老年人;流动人口即居住类型为流动",
            "tags",
        ),
        Column("迁入日期", "moved_in_on", False, False, "YYYY-MM-DD"),
    ),
    "buildings": (
        Column("社区代码", "community_code", True, True),
        Column("楼栋名称", "name", True),
        Column("地址", "address"),
        Column("层数", "floors"),
        Column("纬度", "lat", False, False, "WGS-84 或 GCJ-02,见坐标系"),
        Column("经度", "lng"),
        Column("坐标系", "coord_system", False, False, "wgs84 / gcj02,默认 wgs84", "coord_system"),
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
            "unit_category",
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
GENDERS = {name: code for code, name in rules.GENDERS.items()}  # as a roster writes them
COORD_SYSTEMS = ("wgs84", "gcj02")
# The sheet that holds the drop-down lists (hidden): a list typed into the validation itself
# is limited to 255 characters and breaks on a comma in a name; a range has neither limit.
_LISTS_SHEET = "下拉选项"
_LAST_ROW = 1_048_576  # the whole column below the header, as far as Excel goes


def choice_lists(tag_names: list[str]) -> dict[str, list[str]]:
    """What each enumerated column offers: the values the import accepts, in Chinese; the
    tags are the deployment's own (the tag definitions table), built-in ones first."""
    return {
        "gender": list(GENDERS),
        "residence_type": list(rules.RESIDENCE_TYPES.values()),
        "relation": list(rules.RELATIONS),
        "tags": tag_names,
        "unit_category": list(rules.UNIT_CATEGORIES.values()),
        "coord_system": list(COORD_SYSTEMS),
    }


def _validation(column: Column, source: str) -> DataValidation:
    """The drop-down list of a column. Most refuse anything else, as the import does. The
    relation suggests (the import takes any relation, and families are not all in a list).
    A tags cell holds several tags (党员、老年人), which no list validation accepts, so the
    list only offers: no error message, and a prompt saying how to enter several."""
    dv = DataValidation(type="list", formula1=source, allow_blank=True)
    dv.showDropDown = False  # (sic: in the file format, True hides the arrow)
    if column.choices == "tags":
        dv.showErrorMessage = False
        dv.promptTitle = "标签"
        dv.prompt = "可从下拉选一个;多个标签请直接输入,用顿号分隔,如 党员、老年人"
        dv.showInputMessage = True
    elif column.choices == "relation":
        dv.errorStyle = "warning"
        dv.errorTitle = "与户主关系"
        dv.error = "不是常用的关系,仍可使用。"
        dv.showErrorMessage = True
    else:
        dv.errorStyle = "stop"
        dv.errorTitle = column.header
        dv.error = f"请从下拉列表中选择{column.header}。"
        dv.showErrorMessage = True
    return dv


def template_xlsx(kind: str, tag_names: list[str]) -> bytes:
    """The template a community worker fills in: required columns shaded, ID and phone
    columns formatted as text so Excel does not turn them into numbers, and a drop-down
    list on every enumerated column (its values on a hidden sheet)."""
    wb = Workbook()
    ws = wb.active
    ws.title = kind
    lists = choice_lists(tag_names)
    options = wb.create_sheet(_LISTS_SHEET)
    options.sheet_state = "hidden"
    list_column = 0
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
        values = lists.get(column.choices) if column.choices else None
        if values:
            list_column += 1
            source = get_column_letter(list_column)
            set_data(options.cell(row=1, column=list_column), column.header)
            for r, value in enumerate(values, start=2):
                set_data(options.cell(row=r, column=list_column), value)
            dv = _validation(column, f"'{_LISTS_SHEET}'!${source}$2:${source}${len(values) + 1}")
            dv.add(f"{letter}2:{letter}{_LAST_ROW}")
            ws.add_data_validation(dv)
    if not list_column:
        wb.remove(options)
    notes = wb.create_sheet("说明")
    notes.append(["列名", "必填", "说明"])
    for column in COLUMNS[kind]:
        notes.append([column.header, "是" if column.required else "否", column.note])
    if kind == "residents":
        notes.append([])
        notes.append(["居住类型", "", " / ".join(lists["residence_type"])])
        notes.append(["与户主关系", "", " / ".join(lists["relation"])])
        row = notes.max_row + 1
        notes.cell(row=row, column=1, value="标签")
        set_data(notes.cell(row=row, column=3), " / ".join(tag_names))  # names typed by users
    if kind == "units":
        notes.append([])
        notes.append(["单位类别", "", " / ".join(lists["unit_category"])])
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
