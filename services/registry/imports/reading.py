"""Reading a roster file as a stream of rows, and checking its header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

from openpyxl import load_workbook
from python_calamine import CalamineWorkbook, SheetTypeEnum

from services.common.errors import AppError, FieldError
from services.common.pii import PiiCipher, SealedFile
from services.registry.imports.columns import COLUMNS
from services.registry.imports.encoding import open_text


def _cell(value: Any) -> Any:
    """A cell as the parser takes it: text stripped, a whole number as its digits (a phone
    Excel took for a number: openpyxl gives an int, calamine a float), a date-time as its
    date, nothing as empty text."""
    if value is None:
        return ""
    if value.__class__ is int:
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return value.strip()
    return value


SEALED = ".sealed"


def open_sealed(raw: BinaryIO, key: str, cipher: PiiCipher) -> BinaryIO:
    """A stored roster (see ``SealingReader``) as plain bytes, decrypted a chunk at a time
    from ``raw`` (the object store's reader); its label is the job's id, the name's first
    part."""
    label = key.rsplit("/", 1)[-1].split(".", 1)[0]
    return io.BufferedReader(SealedFile(cipher, raw, label), buffer_size=64 * 1024)


def roster_suffix(key: str) -> str:
    """``.csv`` or ``.xlsx``, from a stored roster's key or a file's name."""
    return ".csv" if key.removesuffix(SEALED).lower().endswith(".csv") else ".xlsx"


def open_rows(
    raw: BinaryIO, suffix: str, encoding: str | None = None, *, in_memory: bool = False
) -> Iterator[list[Any]]:
    """Every row of the file's first sheet, header first; ``raw`` is the plain file, and
    ``encoding`` a CSV's (as ``check_csv`` found it; UTF-8 when not given). An xlsx is
    read whole by python-calamine when ``in_memory`` (the upload's checks found it small
    enough: ``import_xlsx_in_memory_max_cells``), streamed by openpyxl otherwise; both
    give the same rows (tests/registry/test_imports.py)."""
    if suffix == ".csv":
        handle = open_text(raw, encoding)
        try:
            for row in csv.reader(handle):
                yield [v.strip() for v in row]  # a CSV's cells are all text
        finally:
            handle.detach()  # the caller closes ``raw``
        return
    if in_memory:
        yield from _calamine_rows(raw)
        return
    # openpyxl in read-only mode streams the sheet's XML: memory stays flat whatever the
    # file's size, at a tenth of calamine's speed.
    workbook = load_workbook(raw, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell(v) for v in row]
    finally:
        workbook.close()


def _calamine_rows(raw: BinaryIO) -> Iterator[list[Any]]:
    """The first worksheet's rows as openpyxl yields them: from the sheet's first row and
    column, whatever its first cell (calamine's range starts at the first column that
    holds one). Numbers come as floats (openpyxl gives an int for a whole number; ``_cell``
    makes both the same text), a date cell as a date, a date-time as a datetime, an empty
    cell as ``""``."""
    workbook = CalamineWorkbook.from_filelike(raw)
    try:
        sheets = workbook.sheets_metadata
        first = next((i for i, s in enumerate(sheets) if s.typ == SheetTypeEnum.WorkSheet), None)
        if first is None:
            return
        sheet = workbook.get_sheet_by_index(first)
        if sheet.start is None:  # nothing in it
            return
        lead = [""] * sheet.start[1]  # its rows do begin at the sheet's first
        for row in sheet.iter_rows():
            yield [_cell(v) for v in (lead + row if lead else row)]
    finally:
        workbook.close()


def read_header(raw: BinaryIO, suffix: str, encoding: str | None = None) -> list[str]:
    try:
        for row in open_rows(raw, suffix, encoding):
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
