"""Importing the rosters communities already keep in Excel."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from openpyxl import Workbook, load_workbook

from services.common.clock import clock
from services.registry.imports.limits import EXCEL_CELL_CHARS, expanded_size
from services.registry.imports.reading import open_rows
from tests.factories import (
    RESIDENT_HEADER,
    csv_roster,
    finished_import,
    staff_account,
    upload_roster,
)
from tests.support import assert_problem, make_id_number, streamed_upload, unique

HEADER = RESIDENT_HEADER
UNIT_HEADER = [
    "单位名称",
    "统一社会信用代码",
    "单位类别",
    "社区代码",
    "地址",
    "联系人",
    "联系电话",
    "党组织名称",
    "党员人数",
]


def xlsx(rows: list[list], header=HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list], header=HEADER) -> bytes:
    return csv_roster(rows, header)


upload, finished = upload_roster, finished_import


async def test_a_mixed_file_keeps_the_good_rows_and_reports_each_bad_one(api, new_community):
    community = await new_community()
    good = [
        [
            "王一",
            make_id_number(date(1960, 1, 1)),
            "13800000001",
            community,
            "1号楼",
            "1单元101",
            "户主",
            "户籍",
            "党员、老年人",
            "2020-05-01",
        ],
        [
            "王二",
            make_id_number(date(1990, 2, 2)),
            "",
            community,
            "1号楼",
            "1单元101",
            "子",
            "常住",
            "",
            "",
        ],
        [
            "李三",
            make_id_number(date(1985, 3, 3)),
            "13800000003",
            community,
            "2号楼",
            "2单元202",
            "户主",
            "流动",
            "",
            "",
        ],
    ]
    dup = good[0][1]
    bad = [
        [
            "坏一",
            good[1][1][:17] + ("0" if good[1][1][17] != "0" else "1"),
            "",
            community,
            "",
            "",
            "",
            "",
            "",
            "",
        ],
        ["坏二", make_id_number(), "1234", community, "", "", "", "", "", ""],
        ["坏三", make_id_number(), "", "410105009999", "", "", "", "", "", ""],
        ["坏四", dup, "", community, "", "", "", "", "", ""],
        ["", make_id_number(), "", community, "", "", "", "暂住", "会员", "昨天"],
    ]
    r = await upload(
        api.admin, xlsx(good[:2] + bad[:2] + good[2:] + bad[2:]), create_buildings=True
    )
    assert r.status_code == 202, r.text
    job = await finished(api.admin, r.json()["id"])
    assert (job["total"], job["imported"], job["failed"]) == (8, 3, 5)
    by_row = {}
    for e in job["errors"]:
        by_row.setdefault(e["row"], set()).add(e["field"])
    assert by_row == {
        4: {"身份证号"},
        5: {"手机号"},
        7: {"社区代码"},
        8: {"身份证号"},
        9: {"姓名", "居住类型", "标签", "迁入日期"},
    }
    dup_message = next(e["message"] for e in job["errors"] if e["row"] == 8)
    assert "第 2 行" in dup_message
    stats = (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()
    assert stats["residents"] == 3 and stats["households"] == 2 and stats["party_members"] == 1
    assert stats["by_residence_type"] == {"registered": 1, "permanent": 1, "floating": 1}
    page = (
        await api.admin.get("/api/v1/registry/residents", params={"community": community})
    ).json()
    assert {p["name"] for p in page["items"]} == {"王一", "王二", "李三"}
    assert all("*" in p["id_number_masked"] for p in page["items"])

    # The bad rows come back as a spreadsheet with an error column; fixed, they import.
    r = await api.admin.get(f"/api/v1/registry/imports/{job['id']}/errors.xlsx")
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][-1] == "错误" and len(rows) == 6
    fixed = [list(row[: len(HEADER)]) for row in rows[1:]]
    for row in fixed:
        row[0] = row[0] or "补名"
        row[1] = make_id_number()
        row[2] = ""
        row[3] = community
        row[7], row[8], row[9] = "常住", "", ""
    r = await upload(api.admin, xlsx(fixed))
    again = await finished(api.admin, r.json()["id"])
    assert (again["imported"], again["failed"]) == (5, 0)


async def test_importing_the_same_file_twice_changes_nothing(api, new_community):
    community = await new_community()
    rows = [
        [
            "赵" + str(i),
            make_id_number(seq=i),
            "",
            community,
            "5号楼",
            f"1单元{i}01",
            "",
            "",
            "",
            "",
        ]
        for i in range(1, 6)
    ]
    content = csv_bytes(rows)
    first = await finished(
        api.admin,
        (await upload(api.admin, content, "roster.csv", create_buildings=True)).json()["id"],
    )
    second = await finished(
        api.admin, (await upload(api.admin, content, "roster.csv")).json()["id"]
    )
    assert (first["imported"], first["unchanged"]) == (5, 0)
    assert (second["imported"], second["unchanged"], second["failed"]) == (0, 5, 0)
    stats = (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()
    assert stats["residents"] == 5 and stats["households"] == 5
    # A changed row is an update, not a new person.
    rows[0][0] = "赵改名"
    third = await finished(
        api.admin, (await upload(api.admin, csv_bytes(rows), "roster.csv")).json()["id"]
    )
    assert (third["imported"], third["unchanged"]) == (1, 4)
    assert (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()[
        "residents"
    ] == 5


async def test_a_file_of_another_shape_is_refused_with_the_missing_columns(api, base_areas):
    r = await upload(api.admin, xlsx([["a", "b"]], header=["名字", "证件"]))
    body = assert_problem(r, 422, "import.columns_missing")
    assert {e["field"] for e in body["errors"]} == {"姓名", "身份证号", "社区代码"}
    assert "姓名" in body["detail"]
    r = await upload(api.admin, b"\x00\x01 not a spreadsheet", "x.bin")
    assert_problem(r, 422, "import.file_unreadable")
    r = await upload(api.admin, xlsx([]), kind="people")
    assert assert_problem(r, 422)["errors"][0]["field"] == "kind"


async def test_an_import_outside_the_callers_scope_reports_those_rows(api, base_areas):
    rows = [
        ["甲", make_id_number(), "", base_areas["home"], "", "", "", "", "", ""],
        ["乙", make_id_number(), "", "410105002001", "", "", "", "", "", ""],
    ]
    r = await upload(api.community, csv_bytes(rows), "r.csv")
    job = await finished(api.community, r.json()["id"])
    assert (job["imported"], job["failed"]) == (1, 1)
    assert job["errors"][0]["row"] == 3 and job["errors"][0]["field"] == "社区代码"
    # and another community's worker cannot read the job
    assert_problem(await api.grid.get(f"/api/v1/registry/imports/{job['id']}"), 403)


async def test_buildings_households_and_units_import_too(api, new_community):
    community = await new_community()
    b = await upload(
        api.admin,
        xlsx(
            [
                [community, "A座", "某路1号", 18, 34.77, 113.69, "gcj02"],
                [community, "B座", "", "", "", "", ""],
            ],
            header=["社区代码", "楼栋名称", "地址", "层数", "纬度", "经度", "坐标系"],
        ),
        kind="buildings",
    )
    assert (await finished(api.admin, b.json()["id"]))["imported"] == 2
    h = await upload(
        api.admin,
        xlsx(
            [[community, "A座", "101", "孙七"], [community, "C座", "101", ""]],
            header=["社区代码", "楼栋", "门牌号", "户主姓名"],
        ),
        kind="households",
    )
    job = await finished(api.admin, h.json()["id"])
    assert (job["imported"], job["failed"]) == (1, 1)
    from tests.factories import credit_code

    u = await upload(
        api.admin,
        xlsx(
            [["某小学", credit_code("12"), "学校", community, "", "", "", "", 20]],
            header=UNIT_HEADER,
        ),
        kind="units",
    )
    assert (await finished(api.admin, u.json()["id"]))["imported"] == 1


async def test_buildings_households_and_units_reimport_as_unchanged_or_updated(api, new_community):
    """The same files again change nothing; a changed row updates in place; a row named
    twice in one file is one record; a unit registered in another community is refused."""
    community, elsewhere = await new_community(), await new_community()
    building_header = ["社区代码", "楼栋名称", "地址", "层数", "纬度", "经度", "坐标系"]
    buildings = [
        [community, "A座", "某路1号", 18, "", "", ""],
        [community, "B座", "某路2号", 6, "", "", ""],
        [community, "B座", "", 7, "", "", ""],  # again, one floor more: still one building
    ]
    first = await finished(
        api.admin,
        (await upload(api.admin, xlsx(buildings, building_header), kind="buildings")).json()["id"],
    )
    assert (first["imported"], first["unchanged"]) == (3, 0)
    listed = (
        await api.admin.get("/api/v1/registry/buildings", params={"community": community})
    ).json()["items"]
    assert {(b["name"], b["floors"]) for b in listed} == {("A座", 18), ("B座", 7)}
    buildings[0][3] = 20
    again = await finished(
        api.admin,
        (await upload(api.admin, xlsx(buildings[:2], building_header), kind="buildings")).json()[
            "id"
        ],
    )
    assert (again["imported"], again["unchanged"]) == (2, 0)  # A: 18 → 20, B: 7 → 6
    again = await finished(
        api.admin,
        (await upload(api.admin, xlsx(buildings[:2], building_header), kind="buildings")).json()[
            "id"
        ],
    )
    assert (again["imported"], again["unchanged"]) == (0, 2)

    household_header = ["社区代码", "楼栋", "门牌号", "户主姓名"]
    households = [[community, "A座", "101", "孙七"], [community, "A座", "102", ""]]
    for expected in ((2, 0), (0, 2)):
        job = await finished(
            api.admin,
            (await upload(api.admin, xlsx(households, household_header), kind="households")).json()[
                "id"
            ],
        )
        assert (job["imported"], job["unchanged"]) == expected
    households[1][3] = "周八"
    job = await finished(
        api.admin,
        (await upload(api.admin, xlsx(households, household_header), kind="households")).json()[
            "id"
        ],
    )
    assert (job["imported"], job["unchanged"]) == (1, 1)
    stats = (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()
    assert stats["households"] == 2

    from tests.factories import credit_code

    school, clinic = credit_code("12"), credit_code("12")
    units = [
        ["某小学", school, "学校", community, "", "王老师", "13800001111", "", 20],
        ["某诊所", clinic, "医院", elsewhere, "", "", "", "", ""],
    ]
    job = await finished(
        api.admin,
        (await upload(api.admin, xlsx(units, UNIT_HEADER), kind="units")).json()["id"],
    )
    assert (job["imported"], job["unchanged"]) == (2, 0)
    units[0][8] = 25
    units[1][3] = community  # the clinic is registered in the other community
    job = await finished(
        api.admin,
        (await upload(api.admin, xlsx(units, UNIT_HEADER), kind="units")).json()["id"],
    )
    assert (job["imported"], job["unchanged"], job["failed"]) == (1, 0, 1)
    found = (await api.admin.get("/api/v1/registry/units", params={"community": community})).json()[
        "items"
    ]
    assert [(u["name"], u["party_member_count"]) for u in found] == [("某小学", 25)]
    assert found[0]["contact_phone"] == "138****1111"


async def test_the_template_is_a_spreadsheet_with_the_columns(api, base_areas):
    r = await api.community.get("/api/v1/registry/import-templates/residents.xlsx")
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in sheet[1]] == [*HEADER[:2], "性别", *HEADER[2:]]
    assert_problem(await api.community.get("/api/v1/registry/import-templates/people.xlsx"), 422)


async def test_a_retried_upload_with_the_same_key_is_one_job(api, new_community):
    community = await new_community()
    content = csv_bytes([["钱", make_id_number(), "", community, "", "", "", "", "", ""]])
    key = {"Idempotency-Key": "import-" + community}
    files = {"file": ("r.csv", content, "text/csv")}
    a = await api.admin.post(
        "/api/v1/registry/imports", data={"kind": "residents"}, files=files, headers=key
    )
    b = await api.admin.post(
        "/api/v1/registry/imports", data={"kind": "residents"}, files=files, headers=key
    )
    assert a.json()["id"] == b.json()["id"]


async def test_a_formula_typed_in_a_roster_comes_back_as_text_in_the_error_sheet(
    api, new_community
):
    community = await new_community()
    formula = '=HYPERLINK("http://evil.example","点此更正")'
    content = csv_bytes([[formula, "not-an-id", "", community, "", "", "", "常住", "", ""]])
    r = await upload(api.admin, content, name="roster.csv")
    job = await finished(api.admin, r.json()["id"])
    assert job["failed"] == 1
    sheet_file = await api.admin.get(f"/api/v1/registry/imports/{job['id']}/errors.xlsx")
    sheet = load_workbook(io.BytesIO(sheet_file.content)).active
    [cell] = [c for row in sheet.iter_rows() for c in row if c.value == formula]
    assert cell.data_type == "s" and cell.quotePrefix


def _bomb(member: str, content: bytes) -> bytes:
    """A real roster whose ``member`` is replaced: a few hundred KB that expand to much."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(xlsx([["甲", make_id_number()]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            data = content if item.filename == member else source.read(item.filename)
            bomb.writestr(item.filename, data)
        if member not in source.namelist():
            bomb.writestr(member, content)
    return out.getvalue()


async def test_a_spreadsheet_bomb_is_refused_from_its_archive_naming_the_limit(api, base_areas):
    huge_string = b"<sst><si><t>" + b"A" * (40 * 1024 * 1024) + b"</t></si></sst>"
    content = _bomb("xl/sharedStrings.xml", huge_string)
    assert len(content) < 1024 * 1024  # small on the wire
    body = assert_problem(await upload(api.admin, content), 413, "import.limit_exceeded")
    assert "shared_strings_bytes" in body["detail"]

    sheet = (
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<dimension ref="A1:J900000"/><sheetData/></worksheet>'
    )
    body = assert_problem(
        await upload(api.admin, _bomb("xl/worksheets/sheet1.xml", sheet)),
        422,
        "import.limit_exceeded",
    )
    assert "rows" in body["detail"]


_MAIN = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def _sheet(rows: bytes) -> bytes:
    """A first sheet with no ``<dimension>`` (it is optional): only its rows say its size."""
    return _MAIN + b"<sheetData>" + rows + b"</sheetData></worksheet>"


def _strings(*items: bytes) -> bytes:
    return _MAIN.replace(b"worksheet", b"sst") + b"".join(items) + b"</sst>"


def _strings_bomb(strings: bytes) -> bytes:
    """A roster whose shared strings are ``strings``, declared as Excel declares them, so
    that openpyxl reads them (it finds them by their content type, not their name)."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(_bomb("xl/sharedStrings.xml", strings)))
    types = source.read("[Content_Types].xml")
    if b"sharedStrings+xml" not in types:
        override = (
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
            b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        )
        types = types.replace(b"</Types>", override + b"</Types>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            data = types if item.filename == "[Content_Types].xml" else source.read(item)
            bomb.writestr(item.filename, data)
    return out.getvalue()


async def _refused(api, member: str, content: bytes, limit: str) -> dict:
    packed = _strings_bomb(content) if member == "xl/sharedStrings.xml" else _bomb(member, content)
    body = assert_problem(await upload(api.admin, packed), 422)
    assert body["code"] == "import.limit_exceeded" and limit in body["detail"], body
    return body


async def test_one_shared_string_longer_than_a_cell_is_refused_before_openpyxl_holds_it(
    api, base_areas, settings
):
    """One 30 MB string fits under the 32 MB limit on the shared strings, yet openpyxl took
    the registry from 235 to 881 MB parsing it: it is refused from the archive, read in
    bounded memory, naming the cell limit. No spreadsheet holds more than Excel's 32,767
    characters in a cell; a shorter string past ``import_max_cell_chars`` stays a row
    error (test_an_xlsx_cell_longer_than_the_limit_is_a_row_error_naming_its_column)."""
    import tracemalloc

    most = EXCEL_CELL_CHARS
    content = _strings_bomb(_strings(b"<si><t>" + b"A" * (30 << 20) + b"</t></si>"))
    assert len(content) < 1024 * 1024
    tracemalloc.start()
    try:
        response = await upload(api.admin, content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    body = assert_problem(response, 422, "import.limit_exceeded")
    assert "cell_chars" in body["detail"] and str(most) in body["detail"], body
    assert peak < 2 * 1024 * 1024, peak  # the 30 MB string is never held
    # Rich text: each run is short, the string they make is not.
    run = b"<r><rPr><b/></rPr><t>" + "甲".encode() * (most // 2 + 1) + b"</t></r>"
    await _refused(
        api, "xl/sharedStrings.xml", _strings(b"<si>" + run * 2 + b"</si>"), "cell_chars"
    )


async def test_a_sheet_without_a_dimension_is_held_to_the_row_and_column_limits(
    api, base_areas, settings
):
    max_rows, max_columns = settings.import_max_rows, settings.import_max_columns
    cells = b"".join(b'<c t="inlineStr"><is><t>x</t></is></c>' for _ in range(16_000))
    body = await _refused(
        api, "xl/worksheets/sheet1.xml", _sheet(b"<row>" + cells + b"</row>"), "columns"
    )
    assert str(max_columns) in body["detail"]
    # one cell far to the right is as wide as the cells before it, which openpyxl fills in
    far = _sheet(b'<row r="1"><c r="XFD1" t="inlineStr"><is><t>x</t></is></c></row>')
    await _refused(api, "xl/worksheets/sheet1.xml", far, "columns")
    # header and 300,001 rows, none numbered; then one row numbered past the limit
    body = await _refused(
        api, "xl/worksheets/sheet1.xml", _sheet(b"<row/>" * (max_rows + 2)), "rows"
    )
    assert str(max_rows) in body["detail"]
    last = _sheet(b'<row r="%d"><c t="inlineStr"><is><t>x</t></is></c></row>' % (max_rows + 2))
    await _refused(api, "xl/worksheets/sheet1.xml", last, "rows")
    # a dimension that claims less than the rows hold is not believed
    liar = (
        _MAIN
        + b'<dimension ref="A1:B2"/><sheetData><row>'
        + cells
        + b"</row></sheetData></worksheet>"
    )
    await _refused(api, "xl/worksheets/sheet1.xml", liar, "columns")


async def test_an_inline_string_longer_than_a_cell_is_refused_from_the_sheet(
    api, base_areas, settings
):
    most = EXCEL_CELL_CHARS
    long = b'<row><c t="inlineStr"><is><t>' + b"B" * (most + 1) + b"</t></is></c></row>"
    await _refused(api, "xl/worksheets/sheet1.xml", _sheet(long), "cell_chars")
    runs = b"<r><t>" + b"B" * (most // 2 + 1) + b"</t></r>"
    rich = _sheet(b'<row><c t="inlineStr"><is>' + runs * 2 + b"</is></c></row>")
    await _refused(api, "xl/worksheets/sheet1.xml", rich, "cell_chars")
    # A shared string and an inline string just inside the bound are rows, judged later.
    fits = xlsx([["乙" * most, "not-an-id", "", base_areas["home"]]])
    assert (await upload(api.admin, fits)).status_code == 202
    header = b"".join(b'<c t="inlineStr"><is><t>%s</t></is></c>' % h.encode() for h in HEADER)
    row = b'<c t="inlineStr"><is><t>' + b"C" * most + b"</t></is></c>"
    inline = _sheet(b"<row>" + header + b"</row><row>" + row + b"</row>")
    assert (await upload(api.admin, _bomb("xl/worksheets/sheet1.xml", inline))).status_code == 202


async def test_a_csv_with_more_rows_than_the_limit_is_refused_before_it_is_parsed(
    api, base_areas, settings
):
    """A CSV is not a zip, so nothing bounded it: 300,001 one-letter rows (600 KB) were
    accepted and run in the background, each a rejected row written to the database."""
    most = settings.import_max_rows
    content = csv_bytes([["x"]] * (most + 1))
    assert len(content) < 1024 * 1024
    body = assert_problem(await upload(api.admin, content, "r.csv"), 422, "import.limit_exceeded")
    assert "rows" in body["detail"] and str(most) in body["detail"]


async def test_a_csv_cell_longer_than_the_limit_is_refused_and_memory_stays_flat(
    api, base_areas, settings
):
    import tracemalloc

    giant = "甲" * (8 * 1024 * 1024)  # 24 MB of UTF-8 in one cell
    content = csv_bytes([[giant, make_id_number(), "", base_areas["home"]] + [""] * 6])
    headers, body = streamed_upload({"kind": "residents"}, "r.csv", content)
    tracemalloc.start()
    try:
        response = await api.admin.post("/api/v1/registry/imports", headers=headers, content=body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    body = assert_problem(response, 422, "import.limit_exceeded")
    assert "cell_chars" in body["detail"]
    assert str(settings.import_max_cell_chars) in body["detail"]
    # The server streamed the file: it never held the cell, let alone the file (~2 MB).
    assert peak < 8 * 1024 * 1024, peak

    wide = csv_bytes([["x"] * (settings.import_max_columns + 1)])
    body = assert_problem(await upload(api.admin, wide, "r.csv"), 422, "import.limit_exceeded")
    assert "columns" in body["detail"]
    # A cell just inside the limit is an ordinary row, judged on its own.
    fits = csv_bytes([["乙" * settings.import_max_cell_chars, "not-an-id", "", base_areas["home"]]])
    assert (await upload(api.admin, fits, "r.csv")).status_code == 202


# --- a community worker's real roster: typos, Chinese Excel, the template's drop-downs -------


async def _building(api, community: str, name: str, **extra) -> str:
    r = await api.admin.post(
        "/api/v1/registry/buildings", json={"community_code": community, "name": name, **extra}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _building_names(api, community: str) -> set[str]:
    page = await api.admin.get(
        "/api/v1/registry/buildings", params={"community": community, "limit": 100}
    )
    return {b["name"] for b in page.json()["items"]}


def _resident(name: str, community: str, building: str = "", door: str = "", **more) -> list:
    row = [name, make_id_number(), "", community, building, door, "", "常住", "", ""]
    for header, value in more.items():
        row[HEADER.index(header)] = value
    return row


async def test_a_mistyped_building_is_a_row_error_naming_the_buildings_it_may_mean(
    api, new_community
):
    """A community worker types 3号搂 for 3号楼: the row is refused, naming the column, the
    name typed and the buildings of the community it is closest to; the good rows of the
    file are kept, and no building appears that the grid worker's phone would never see."""
    community = await new_community()
    await _building(api, community, "3号楼", lat=34.77, lng=113.69)
    await _building(api, community, "13号楼")
    await _building(api, community, "幸福里A座")
    rows = [
        _resident("黄博然", community, "3号楼", "1单元101"),
        _resident("欧阳娜", community, "3号搂", "1单元102"),
        _resident("李明", community),  # no building at all is allowed
        _resident("张伟", community, "火星基地", "1"),  # nothing close: no suggestion
    ]
    job = await finished(
        api.admin, (await upload(api.admin, csv_bytes(rows), "r.csv")).json()["id"]
    )
    assert (job["total"], job["imported"], job["failed"]) == (4, 2, 2), job
    errors = {e["row"]: e for e in job["errors"]}
    assert set(errors) == {3, 5}
    assert errors[3]["field"] == "楼栋" and errors[5]["field"] == "楼栋"
    assert "3号搂" in errors[3]["message"] and "3号楼" in errors[3]["message"]
    assert "幸福里A座" not in errors[3]["message"]
    assert "火星基地" in errors[5]["message"] and "号楼" not in errors[5]["message"]
    # Said as the import page says it, not as the API parameter is spelt.
    assert "新建楼栋" in errors[5]["message"] and "create_buildings" not in errors[5]["message"]
    assert job["created_buildings"] == [] and job["warnings"] == []
    assert await _building_names(api, community) == {"3号楼", "13号楼", "幸福里A座"}
    residents = (
        await api.admin.get("/api/v1/registry/residents", params={"community": community})
    ).json()["items"]
    assert {r["name"] for r in residents} == {"黄博然", "李明"}

    # The error sheet hands the row back as typed, with the reason.
    sheet = await api.admin.get(f"/api/v1/registry/imports/{job['id']}/errors.xlsx")
    rows_back = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows_back[1][4] == "3号搂" and rows_back[1][-1].startswith("楼栋:")

    # Told to create buildings, the import does, and says which ones have no location.
    fixed = [rows[1], rows[3]]
    job = await finished(
        api.admin,
        (await upload(api.admin, csv_bytes(fixed), "r.csv", create_buildings=True)).json()["id"],
    )
    assert (job["imported"], job["failed"]) == (2, 0), job
    created = sorted(job["created_buildings"], key=lambda b: b["name"])
    assert [(b["name"], b["community_code"], b["has_location"]) for b in created] == [
        ("3号搂", community, False),
        ("火星基地", community, False),
    ]
    assert len(job["warnings"]) == 1 and "3号搂" in job["warnings"][0]
    assert await _building_names(api, community) == {
        "3号楼",
        "13号楼",
        "幸福里A座",
        "3号搂",
        "火星基地",
    }
    # Once a building has its location, the job no longer warns about it.
    await api.admin.patch(
        f"/api/v1/registry/buildings/{created[0]['id']}", json={"lat": 34.77, "lng": 113.69}
    )
    again = (await api.admin.get(f"/api/v1/registry/imports/{job['id']}")).json()
    assert {b["name"]: b["has_location"] for b in again["created_buildings"]} == {
        "3号搂": True,
        "火星基地": False,
    }
    assert "3号搂" not in again["warnings"][0] and "火星基地" in again["warnings"][0]


async def test_a_household_roster_with_an_unknown_building_suggests_the_close_ones(
    api, new_community
):
    community = await new_community()
    await _building(api, community, "A座")
    header = ["社区代码", "楼栋", "门牌号", "户主姓名"]
    content = xlsx([[community, "A坐", "101", ""], [community, "A座", "102", ""]], header=header)
    job = await finished(
        api.admin, (await upload(api.admin, content, kind="households")).json()["id"]
    )
    assert (job["imported"], job["failed"]) == (1, 1)
    [error] = job["errors"]
    assert error["field"] == "楼栋" and "A坐" in error["message"] and "A座" in error["message"]
    job = await finished(
        api.admin,
        (await upload(api.admin, content, kind="households", create_buildings=True)).json()["id"],
    )
    assert (job["imported"], job["unchanged"], job["failed"]) == (1, 1, 0)
    assert [b["name"] for b in job["created_buildings"]] == ["A坐"]


async def test_a_row_with_a_bad_phone_and_an_unknown_building_reports_both_at_once(
    api, new_community
):
    """A community worker fixes a roster from one error sheet: a row with a bad phone and a
    building the community lacks names both, not the phone now and the building on the next
    import; 8号 楼 typed with a stray space (or a full-width one) is the community's 8号楼,
    and 2单元 301 its household 2单元301, kept under their own names."""
    community = await new_community()
    building = await _building(api, community, "8号楼")
    household = await api.admin.post(
        "/api/v1/registry/households", json={"building_id": building, "door_no": "2单元301"}
    )
    assert household.status_code == 201, household.text
    rows = [
        _resident("黄博然", community, "火星基地", "1", 手机号="123"),
        _resident("欧阳娜", community, "8号 楼", "2单元 301"),
        _resident("李明", community, "8号\u3000楼", "2单元\u3000301"),
        _resident("张伟", community, "8号 楼", "1", 手机号="456"),
    ]
    job = await finished(
        api.admin, (await upload(api.admin, csv_bytes(rows), "r.csv")).json()["id"]
    )
    assert (job["total"], job["imported"], job["failed"]) == (4, 2, 2), job
    by_row: dict[int, list[str]] = {}
    for error in job["errors"]:
        by_row.setdefault(error["row"], []).append(error["field"])
    assert by_row == {2: ["手机号", "楼栋"], 5: ["手机号"]}
    [building_error] = [e for e in job["errors"] if e["field"] == "楼栋"]
    assert "火星基地" in building_error["message"]
    assert job["created_buildings"] == []
    assert await _building_names(api, community) == {"8号楼"}
    residents = (
        await api.admin.get("/api/v1/registry/residents", params={"community": community})
    ).json()["items"]
    assert {(r["name"], r["building_id"], r["household_id"]) for r in residents} == {
        ("欧阳娜", building, household.json()["id"]),
        ("李明", building, household.json()["id"]),
    }


def _excel_csv(rows: list[list], encoding: str, bom: bytes = b"") -> bytes:
    """A roster as Chinese Excel saves "CSV (逗号分隔)": the system's ANSI code page (GBK,
    936) or GB18030, CRLF line ends."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out)  # \r\n, as Excel
    writer.writerow(HEADER)
    writer.writerows(rows)
    return bom + out.getvalue().encode(encoding)


async def test_a_roster_saved_by_chinese_excel_in_gbk_or_gb18030_is_read(api, new_community):
    community = await new_community()
    await _building(api, community, "3号楼")
    gb18030_bom = "\ufeff".encode("gb18030")
    for encoding, bom, rare in (
        ("gbk", b"", "黄博然"),
        ("gb18030", b"", "王䶮"),  # 䶮 (U+4DAE) is in GB18030, not in GBK
        ("gb18030", gb18030_bom, "李㛃"),
    ):
        rows = [
            _resident(rare, community, "3号楼", f"1单元{len(bom)}01", 标签="党员、老年人"),
            _resident("欧阳娜娜", community, "三号楼", "1单元102"),
            _resident("张伟", community, 居住类型="流动"),
        ]
        content = _excel_csv(rows, encoding, bom)
        assert content.decode("gb18030")  # a real GB roster, not UTF-8
        try:
            content.decode("utf-8")
            raise AssertionError("the roster must not be valid UTF-8")
        except UnicodeDecodeError:
            pass
        r = await upload(api.admin, content, "花名册.csv")
        assert r.status_code == 202, r.text
        job = await finished(api.admin, r.json()["id"])
        assert (job["imported"], job["failed"]) == (2, 1), (encoding, job)
        [error] = job["errors"]
        assert error["row"] == 3 and error["field"] == "楼栋" and "三号楼" in error["message"]
        # The bad row comes back in Chinese, as it was typed.
        sheet = await api.admin.get(f"/api/v1/registry/imports/{job['id']}/errors.xlsx")
        back = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
        assert back[1][0] == "欧阳娜娜" and back[1][4] == "三号楼"
    residents = (
        await api.admin.get("/api/v1/registry/residents", params={"community": community})
    ).json()["items"]
    assert {r["name"] for r in residents} == {"黄博然", "王䶮", "李㛃", "张伟"}
    stats = (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()
    assert stats["party_members"] == 3


HEADER_CSV = (",".join(HEADER) + "\r\n").encode("gbk")


async def test_a_file_in_no_chinese_encoding_is_still_refused(api, base_areas):
    content = "姓名,身份证号,社区代码\n".encode("utf-16-le")
    assert_problem(await upload(api.admin, content, "r.csv"), 422, "import.file_unreadable")
    # Not GB18030 either: bytes no code page maps.
    content = HEADER_CSV + b"\xff\xfe\xff\n"
    assert_problem(await upload(api.admin, content, "r.csv"), 422, "import.file_unreadable")


def test_the_csv_limits_check_reads_a_gb18030_roster_and_names_its_encoding(settings):
    from services.registry.imports import check_csv

    rows = [["王䶮", "x", "", "410105001001"]] * 3
    content = _excel_csv(rows, "gb18030")
    handle = io.BytesIO(content)
    checked = check_csv(handle, settings)
    assert (checked.rows, checked.encoding) == (3, "gb18030")
    assert handle.tell() == 0
    checked = check_csv(io.BytesIO(csv_bytes(rows)), settings)
    assert (checked.rows, checked.encoding) == (3, "utf-8-sig")
    # A file ASCII for its first 64 KiB and GBK after is still read as GBK, not cut short.
    late = [["x" * 40, "y", "", "410105001001"]] * 2000 + [["黄博然", "x", "", "410105001001"]]
    late = _excel_csv(late, "gbk")
    assert check_csv(io.BytesIO(late), settings).encoding == "gb18030"


def _validations(book) -> dict[str, object]:
    """Each data-validated column of the first sheet: header → (validation, its choices)."""
    sheet = book.worksheets[0]
    headers = {c.column_letter: c.value for c in sheet[1]}
    found = {}
    for dv in sheet.data_validations.dataValidation:
        assert dv.type == "list"
        formula = dv.formula1
        if formula.startswith('"'):
            choices = formula.strip('"').split(",")
        else:
            where, cells = formula.rsplit("!", 1)
            source = book[where.strip("'")]
            choices = [c.value for row in source[cells.replace("$", "")] for c in row if c.value]
        for ref in str(dv.sqref).split():
            letter = "".join(ch for ch in ref.split(":")[0] if ch.isalpha())
            assert ref.split(":")[0].endswith("2"), ref  # from the first data row
            found[headers[letter]] = (dv, choices)
    return found


async def test_the_template_offers_drop_down_lists_for_every_enumerated_column(api, base_areas):
    code = "t" + make_id_number()[-8:].lower()
    r = await api.admin.post("/api/v1/registry/tags", json={"code": code, "name": "楼长" + code})
    assert r.status_code == 201, r.text

    r = await api.community.get("/api/v1/registry/import-templates/residents.xlsx")
    book = load_workbook(io.BytesIO(r.content))
    lists = _validations(book)
    assert set(lists) == {"性别", "与户主关系", "居住类型", "标签"}
    assert lists["性别"][1] == ["男", "女"]
    assert lists["居住类型"][1] == ["户籍", "常住", "流动"]
    assert {"户主", "配偶", "子", "女", "其他"} <= set(lists["与户主关系"][1])
    tags = lists["标签"]
    assert {"党员", "老年人", "残疾人", "楼长" + code} <= set(tags[1])
    # A cell may hold several tags (党员、老年人): the list offers, it does not refuse.
    assert tags[0].showErrorMessage is False and tags[0].showInputMessage and tags[0].prompt
    for header in ("性别", "居住类型"):
        assert lists[header][0].showErrorMessage is True and lists[header][0].allow_blank

    r = await api.community.get("/api/v1/registry/import-templates/units.xlsx")
    lists = _validations(load_workbook(io.BytesIO(r.content)))
    assert set(lists) == {"单位类别"} and "学校" in lists["单位类别"][1]
    r = await api.community.get("/api/v1/registry/import-templates/buildings.xlsx")
    lists = _validations(load_workbook(io.BytesIO(r.content)))
    assert lists["坐标系"][1] == ["wgs84", "gcj02"]


async def test_the_gender_column_is_checked_against_the_id_number(api, new_community):
    """The ID number says the gender (GB 11643: the 17th digit's parity); a gender typed
    in the roster that disagrees points at a mistyped ID number or a swapped row."""
    community = await new_community()

    def gender_of(number: str) -> str:
        return "男" if int(number[16]) % 2 == 1 else "女"

    opposite = {"男": "女", "女": "男"}
    ids = [make_id_number() for _ in range(4)]
    header = [*HEADER, "性别"]
    rows = [
        ["甲", ids[0], "", community, "", "", "", "", "", "", gender_of(ids[0])],
        ["乙", ids[1], "", community, "", "", "", "", "", "", ""],
        ["丙", ids[2], "", community, "", "", "", "", "", "", "未知"],
        ["丁", ids[3], "", community, "", "", "", "", "", "", opposite[gender_of(ids[3])]],
    ]
    job = await finished(
        api.admin, (await upload(api.admin, xlsx(rows, header=header))).json()["id"]
    )
    assert (job["imported"], job["failed"]) == (2, 2), job
    assert {(e["row"], e["field"]) for e in job["errors"]} == {(4, "性别"), (5, "性别")}


async def test_an_xlsx_cell_longer_than_the_limit_is_a_row_error_naming_its_column(
    api, new_community, settings
):
    community = await new_community()
    await _building(api, community, "1号楼")
    most = settings.import_max_cell_chars
    rows = [
        _resident("甲", community, "1号楼", "1" * (most + 1)),
        _resident("乙", community, "1号楼", "1单元101", 标签="党" * (most + 5)),
        _resident("丙", community, "1号楼", "1单元102"),
    ]
    job = await finished(api.admin, (await upload(api.admin, xlsx(rows))).json()["id"])
    assert (job["imported"], job["failed"]) == (1, 2), job
    errors = {e["row"]: e for e in job["errors"]}
    assert errors[2]["field"] == "门牌号" and str(most) in errors[2]["message"]
    assert errors[3]["field"] == "标签" and str(most) in errors[3]["message"]
    households = (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()
    assert households["households"] == 1


async def test_a_tag_named_with_a_control_character_does_not_break_the_template(api):
    """Found by schemathesis: a tag whose name holds a character a sheet cannot (U+0001)
    made every template download a 500. The sheet leaves such characters out."""
    code = "t" + unique("")[-8:]
    r = await api.admin.post("/api/v1/registry/tags", json={"code": code, "name": "独居\u0001老人"})
    assert r.status_code in (201, 422), r.text
    r = await api.admin.get("/api/v1/registry/import-templates/residents.xlsx")
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content))
    names = [c.value for row in sheet["下拉选项"].iter_rows() for c in row if c.value]
    assert "独居\u0001老人" not in names


async def test_a_roster_marking_floating_population_among_the_tags_imports_as_the_search_finds(
    api, new_community
):
    """Communities write 流动人口 (or 流动) in the tag column, as they search for it with
    ``?tag=流动人口``: it is the residence type floating, not a tag; the tag list names it
    with the tags, and the template offers it. A row that says 户籍 or 常住 as well is
    asked about, not guessed."""
    community = await new_community()
    rows = [
        ["甲流", make_id_number(), "", community, "", "", "", "", "流动人口", ""],
        ["乙流", make_id_number(), "", community, "", "", "", "", "党员、流动", ""],
        ["丙流", make_id_number(), "", community, "", "", "", "流动", "流动人口", ""],
        ["丁户", make_id_number(), "", community, "", "", "", "户籍", "流动人口", ""],
        ["戊常", make_id_number(), "", community, "", "", "", "常住", "floating", ""],
        ["己党", make_id_number(), "", community, "", "", "", "", "党员", ""],
    ]
    content = csv_bytes(rows)
    job = await finished(api.street, (await upload(api.street, content, "roster.csv")).json()["id"])
    assert (job["imported"], job["failed"]) == (4, 2), job
    assert {(e["row"], e["field"]) for e in job["errors"]} == {(5, "居住类型"), (6, "居住类型")}
    assert all("流动" in e["message"] for e in job["errors"])

    async def residents(**query) -> dict[str, dict]:
        r = await api.street.get(
            "/api/v1/registry/residents", params={"community": community, "limit": 100, **query}
        )
        assert r.status_code == 200, r.text
        return {item["name"]: item for item in r.json()["items"]}

    floating = await residents(tag="流动人口")
    assert set(floating) == {"甲流", "乙流", "丙流"}
    assert {r["residence_type"] for r in floating.values()} == {"floating"}
    assert floating["乙流"]["tags"] == ["party_member"] and floating["甲流"]["tags"] == []
    assert set(await residents(tag="流动")) == set(await residents(tag="floating")) == set(floating)
    assert (await residents())["己党"]["residence_type"] == "permanent"
    # The same file again changes nothing.
    again = await finished(
        api.street, (await upload(api.street, content, "roster.csv")).json()["id"]
    )
    assert (again["imported"], again["unchanged"], again["failed"]) == (0, 4, 2), again

    # The tag list names it beside the tags; each built-in one is found by its code and its name.
    r = await api.street.get("/api/v1/registry/tags")
    assert r.status_code == 200, r.text
    listed = {t["code"]: t for t in r.json()}
    assert listed["floating"] == {
        "code": "floating",
        "name": "流动人口",
        "builtin": True,
        "residence_type": "floating",
    }
    assert listed["elderly"]["residence_type"] is None
    for t in (t for t in listed.values() if t["builtin"]):
        for label in (t["code"], t["name"]):
            r = await api.street.get(
                "/api/v1/registry/residents", params={"community": community, "tag": label}
            )
            assert r.status_code == 200, (label, r.text)
    # The template's tag list offers it; no deployment tag can take its code or its names.
    r = await api.street.get("/api/v1/registry/import-templates/residents.xlsx")
    assert "流动人口" in _validations(load_workbook(io.BytesIO(r.content)))["标签"][1]
    for code, name in (("floating", "外来人口"), ("floaters", "流动人口"), ("floaters2", "流动")):
        assert_problem(
            await api.admin.post("/api/v1/registry/tags", json={"code": code, "name": name}),
            409,
            "tag.exists",
        )


# --- the two readers of an xlsx: python-calamine holds the sheet and reads it fast, for
# rosters up to import_xlsx_in_memory_max_cells; openpyxl streams a larger one. A community
# worker must not be able to tell which read their file.


def _workbook(fill) -> bytes:
    wb = Workbook()
    fill(wb.active)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _trimmed(row: list) -> list:
    while row and row[-1] == "":
        row = row[:-1]
    return row


def _both(content: bytes) -> tuple[list, list]:
    """The rows each reader gives, up to the empty cells at their ends (openpyxl's rows are
    as wide as the sheet's dimension, calamine's reach its last value; a missing cell and
    an empty one read alike)."""
    whole = [_trimmed(r) for r in open_rows(io.BytesIO(content), ".xlsx", in_memory=True)]
    streamed = [_trimmed(r) for r in open_rows(io.BytesIO(content), ".xlsx")]
    return whole, streamed


def test_both_readers_give_a_roster_the_same_rows():
    """ID numbers typed as text stay text; a phone Excel took for a number comes back as its
    digits, not 13812345678.0; a date cell is a date, with or without a time; empty cells
    are empty, a blank row is blank, a merged header holds its text in its first cell."""
    id_number = make_id_number()

    def fill(ws):
        ws.append([*RESIDENT_HEADER, "备注", ""])
        ws.merge_cells("K1:L1")
        ws.append(["王伟", id_number, 13812345678, "410105001001", "1号楼", 301, "户主", "常住"])
        ws.append([" 李四 ", 410105199001011234, "13812345679", None, None, 12.0, None, None])
        ws.append([None] * 8)
        ws.append(["张三", "=1+1", 0, "", "", "", "", "", "", date(2020, 5, 1), True])
        ws.append(["赵六", "", "", "", "", "", "", "", "", datetime(2020, 5, 1, 8, 30)])
        ws["J6"].number_format = "yyyy-mm-dd hh:mm"

    whole, streamed = _both(_workbook(fill))
    assert whole == streamed
    assert whole[0][10] == "备注" and len(whole[0]) == 11
    assert whole[1][:3] == ["王伟", id_number, "13812345678"]
    assert whole[1][5] == "301"
    assert whole[2][0] == "李四" and whole[2][5] == "12"
    assert str(whole[2][1]) == "4.101051990010113e+17"  # 15 digits kept: a row error
    assert whole[3] == []
    assert whole[4][1] == "" and whole[4][9] == date(2020, 5, 1) and whole[4][10] is True
    assert whole[5][9] == date(2020, 5, 1)


def test_a_sheet_that_starts_further_in_reads_alike():
    """calamine's range begins at the first cell that holds something; openpyxl's rows begin
    at A1. The column a value sits in is what the header says it is, either way."""

    def fill(ws):
        ws["C3"] = "姓名"
        ws["D3"] = "身份证号"
        ws["C4"] = "王伟"
        ws["E5"] = "x"

    whole, streamed = _both(_workbook(fill))
    assert whole == streamed
    assert whole[2][2:4] == ["姓名", "身份证号"] and whole[4][4] == "x"


def test_an_empty_sheet_reads_as_no_rows_or_one_blank_one():
    whole, streamed = _both(_workbook(lambda ws: None))
    assert whole == [] and all(row == [] for row in streamed)


def test_the_uploads_checks_count_the_cells_a_reader_holding_the_sheet_holds(settings):
    """Rows (the header one of them) by the widest row, or what the sheet's dimension
    claims when that is more: calamine sizes the sheet by it."""
    content = xlsx([["甲", make_id_number()], ["乙", make_id_number(), "", "", "", "x"]])
    assert expanded_size(io.BytesIO(content), settings).cells == 3 * len(RESIDENT_HEADER)

    def claims(ws):
        ws["A1"] = "姓名"
        ws["H40"] = None  # an empty cell openpyxl writes: the dimension says A1:H40

    content = _workbook(claims)
    assert expanded_size(io.BytesIO(content), settings).cells == 40 * 8


async def test_a_roster_too_large_to_hold_is_streamed_and_imports_alike(
    api, new_community, settings, monkeypatch
):
    """Past import_xlsx_in_memory_max_cells the sheet is streamed by openpyxl: the same rows
    are kept, the same bad ones reported."""
    outcomes = []
    for most in (settings.import_xlsx_in_memory_max_cells, 0):
        monkeypatch.setattr(settings, "import_xlsx_in_memory_max_cells", most)
        community = await new_community()
        await _building(api, community, "1号楼")
        rows = [
            _resident("甲", community, "1号楼", "1单元101", 手机号=13812345678),
            _resident("乙", community, "1号楼", "1单元102", 迁入日期=date(2021, 3, 4)),
            _resident("丙", community, "1号楼", "1单元103", 身份证号="123"),
        ]
        job = await finished(api.admin, (await upload(api.admin, xlsx(rows))).json()["id"])
        outcomes.append(
            (job["imported"], job["failed"], [(e["row"], e["field"]) for e in job["errors"]])
        )
        listed = await api.admin.get(
            "/api/v1/registry/residents", params={"community": community, "limit": 10}
        )
        people = {p["name"]: p for p in listed.json()["items"]}
        assert people["甲"]["phone"] == "138****5678", people["甲"]
        assert people["乙"]["moved_in_on"] == "2021-03-04", people["乙"]
    assert outcomes[0] == outcomes[1] == (2, 1, [(4, "身份证号")])


async def test_a_cell_far_longer_in_bytes_than_in_characters_is_counted_in_characters(
    api, new_community
):
    """The upload's first pass over a sheet measures bytes; 20,000 Chinese characters are
    60,000 bytes, within a cell (32,767 characters) but past that bound in bytes, so the
    sheet is read again counting characters: the file is taken, the row refused for its
    length like any cell past import_max_cell_chars."""
    community = await new_community()
    await _building(api, community, "1号楼")
    rows = [
        _resident("甲", community, "1号楼", "1单元101", 标签="党" * 20_000),
        _resident("乙", community, "1号楼", "1单元102"),
    ]
    r = await upload(api.admin, xlsx(rows))
    assert r.status_code == 202, r.text
    job = await finished(api.admin, r.json()["id"])
    assert (job["imported"], job["failed"]) == (1, 1), job
    assert job["errors"][0]["field"] == "标签"


async def test_dates_as_chinese_excel_writes_them_import_and_a_bad_one_is_quoted(
    api, new_community
):
    """Excel saves 2010/5/1 in a CSV; a worker types 2024年3月1日; both are days. A value
    that is no day is quoted back in the message."""
    community = await new_community()
    rows = [
        [f"日期{i}", make_id_number(), "", community, "", "", "", "", "", value]
        for i, value in enumerate(["2010/5/1", "2024年3月1日", "2019.10.08", "20200102", "去年"])
    ]
    r = await upload(api.admin, csv_bytes(rows), name="roster.csv")
    assert r.status_code == 202, r.text
    job = await finished(api.admin, r.json()["id"])
    assert (job["imported"], job["failed"]) == (4, 1), job["errors"]
    [error] = job["errors"]
    assert error["field"] == "迁入日期" and "去年" in error["message"], error
    page = await api.admin.get("/api/v1/registry/residents", params={"community": community})
    moved_in = {p["name"]: p["moved_in_on"] for p in page.json()["items"]}
    assert moved_in == {
        "日期0": "2010-05-01",
        "日期1": "2024-03-01",
        "日期2": "2019-10-08",
        "日期3": "2020-01-02",
    }


async def test_a_move_in_day_still_to_come_is_a_row_error_and_on_the_form_a_422(api, new_community):
    """A roster (or a worker's form) said a resident moved in next year: taken as it was,
    the population of a day to come."""
    community = await new_community()
    tomorrow = clock.today() + timedelta(days=1)
    rows = [
        ["今天迁入", make_id_number(), "", community, "", "", "", "", "", str(clock.today())],
        ["明年迁入", make_id_number(), "", community, "", "", "", "", "", str(tomorrow)],
    ]
    r = await upload(api.admin, csv_bytes(rows), name="roster.csv")
    job = await finished(api.admin, r.json()["id"])
    assert (job["imported"], job["failed"]) == (1, 1), job["errors"]
    [error] = job["errors"]
    assert error["field"] == "迁入日期" and str(clock.today()) in error["message"], error
    made = await api.admin.post(
        "/api/v1/registry/residents",
        json={
            "name": "黄博然",
            "id_number": make_id_number(),
            "community_code": community,
            "moved_in_on": str(tomorrow),
        },
    )
    body = assert_problem(made, 422, "validation.in_future")
    assert body["errors"][0]["field"] == "moved_in_on"
    page = await api.admin.get("/api/v1/registry/residents", params={"community": community})
    resident = page.json()["items"][0]["id"]
    r = await api.admin.patch(
        f"/api/v1/registry/residents/{resident}", json={"moved_in_on": str(tomorrow)}
    )
    assert assert_problem(r, 422, "validation.in_future")["errors"][0]["field"] == "moved_in_on"


async def test_an_imported_resident_has_a_history_that_names_who_imported_it(api, new_community):
    community = await new_community()
    worker = await staff_account(api, "community_admin", community, "黄河路社区工作者")
    number = make_id_number()
    row = ["史一", number, "13812345678", community, "", "", "", "", "", "2020-01-02"]
    r = await upload(worker, csv_bytes([row]), name="花名册.csv")
    await finished(worker, r.json()["id"])
    row[8] = "党员"  # next month's roster marks them a party member
    r = await upload(worker, csv_bytes([row]), name="花名册二月.csv")
    await finished(worker, r.json()["id"])
    [resident] = (
        await worker.get("/api/v1/registry/residents", params={"community": community})
    ).json()["items"]
    r = await worker.get(f"/api/v1/registry/residents/{resident['id']}/history")
    assert r.status_code == 200, r.text
    second, first = r.json()["items"]
    assert (first["action"], first["actor_name"]) == ("imported", "黄河路社区工作者")
    fields = {c["field"]: c["new"] for c in first["changes"]}
    assert fields["name"] == "史一" and fields["file"] == "花名册.csv"
    assert fields["id_number"] != number and "*" in fields["id_number"]  # masked, never in full
    assert number not in r.text and "13812345678" not in r.text
    assert {c["field"]: c["new"] for c in second["changes"]}["tags"] == ["party_member"]


async def test_the_row_that_says_head_names_its_household(api, new_community):
    """A roster says who heads each household (与户主关系 户主); the household created for it
    reads by that name, and a household already there without one takes it — one that has a
    head's name keeps it."""
    community = await new_community()
    building = await api.admin.post(
        "/api/v1/registry/buildings", json={"community_code": community, "name": "3号楼"}
    )
    assert building.status_code == 201, building.text
    before = await api.admin.post(
        "/api/v1/registry/households",
        json={"building_id": building.json()["id"], "door_no": "101"},
    )
    assert before.status_code == 201, before.text

    def row(name, door, relation):
        return [name, make_id_number(), "", community, "3号楼", door, relation, "户籍", "", ""]

    content = csv_bytes(
        [
            row("赵建国", "101", "户主"),
            row("钱秀英", "101", "配偶"),
            row("孙志强", "102", "子"),
            row("孙浩然", "102", "户主"),
        ]
    )
    r = await upload(api.admin, content, name="roster.csv")
    assert r.status_code in (201, 202), r.text
    job = await finished(api.admin, r.json()["id"])
    assert job["imported"] == 4, job
    listed = await api.admin.get("/api/v1/registry/households", params={"community": community})
    heads = {h["door_no"]: h["head_name"] for h in listed.json()["items"]}
    assert heads == {"101": "赵建国", "102": "孙浩然"}


async def test_a_person_registered_while_the_roster_is_written_refuses_only_that_row(
    api, new_community, monkeypatch
):
    """A street worker registers 黄博然 at the counter just as the roster naming him is
    being written (after the import looked him up, before its rows went in): his row is
    refused, naming his ID number, the rest of the batch is kept, and the community counts
    each person once."""
    from services.registry.imports.writing import Writer

    community = await new_community()
    rows = [
        _resident("黄博然", community, 标签="党员"),
        _resident("欧阳娜", community, 标签="党员"),
        _resident("李明", community),
    ]
    apply = Writer.apply

    async def at_the_counter_meanwhile(self, plan, tally, renew=None):
        monkeypatch.setattr(Writer, "apply", apply)  # once, before the first batch goes in
        r = await api.street.post(
            "/api/v1/registry/residents",
            json={"name": "黄博然", "id_number": rows[0][1], "community_code": community},
        )
        assert r.status_code == 201, r.text
        await apply(self, plan, tally, renew)

    monkeypatch.setattr(Writer, "apply", at_the_counter_meanwhile)
    r = await upload(api.admin, csv_bytes(rows), name="roster.csv")
    job = await finished(api.admin, r.json()["id"])
    assert (job["imported"], job["failed"]) == (2, 1), job
    assert [(e["row"], e["field"]) for e in job["errors"]] == [(2, "身份证号")]
    listed = await api.admin.get(
        "/api/v1/registry/residents", params={"community": community, "limit": 10}
    )
    assert sorted(p["name"] for p in listed.json()["items"]) == ["李明", "欧阳娜", "黄博然"]
    stats = (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()
    assert stats["residents"] == 3, stats
    assert stats["tags"]["party_member"] == 1, stats


async def test_a_roster_parsed_in_a_process_of_its_own_imports_as_one_parsed_beside_the_writer(
    api, new_community, settings, monkeypatch
):
    """Past import_parse_process_min_bytes a roster is parsed in a process of its own. A
    community's roster with typos (a bad ID number, a person twice, an unknown tag, a
    building typed wrong) keeps the same good rows and reports the same bad ones either way,
    as CSV and as xlsx, and its bad rows come back to fix with what was typed."""
    outcomes = []
    for smallest, suffix in ((10**12, "csv"), (0, "csv"), (10**12, "xlsx"), (0, "xlsx")):
        monkeypatch.setattr(settings, "import_parse_process_min_bytes", smallest)
        community = await new_community()
        await _building(api, community, "3号楼")
        twice = make_id_number()
        rows = [
            _resident("黄博然", community, "3号楼", "1单元101", 手机号="13812345678"),
            _resident("欧阳娜", community, "3号楼", "1单元101", 标签="党员、老年人"),
            _resident("李明", community, "3号搂", "1单元102"),
            _resident("张伟", community, 身份证号="410105199001011230"),
            _resident("王芳", community, 身份证号=twice),
            _resident("王芳", community, 身份证号=twice),
            _resident("刘洋", community, 标签="会员"),
        ]
        content = csv_bytes(rows) if suffix == "csv" else xlsx(rows)
        job = await finished(
            api.admin, (await upload(api.admin, content, name=f"roster.{suffix}")).json()["id"]
        )
        listed = await api.admin.get(
            "/api/v1/registry/residents", params={"community": community, "limit": 10}
        )
        people = sorted((p["name"], p["phone"], p["tags"]) for p in listed.json()["items"])
        sheet = await api.admin.get(f"/api/v1/registry/imports/{job['id']}/errors.xlsx")
        typed = [
            row[0]
            for row in load_workbook(io.BytesIO(sheet.content)).active.iter_rows(
                min_row=2, values_only=True
            )
        ]
        outcomes.append(
            (
                job["imported"],
                job["failed"],
                [(e["row"], e["field"], e["message"]) for e in job["errors"]],
                people,
                typed,
            )
        )
    assert outcomes[0] == outcomes[1] and outcomes[2] == outcomes[3], outcomes
    imported, failed, errors, people, typed = outcomes[0]
    assert (imported, failed) == (3, 4), outcomes[0]
    assert [(row, field) for row, field, _ in errors] == [
        (4, "楼栋"),
        (5, "身份证号"),
        (7, "身份证号"),
        (8, "标签"),
    ]
    assert "3号楼" in errors[0][2]
    assert people == [
        ("欧阳娜", None, ["elderly", "party_member"]),
        ("王芳", None, []),
        ("黄博然", "138****5678", []),
    ]
    assert typed == ["李明", "张伟", "王芳", "刘洋"]
