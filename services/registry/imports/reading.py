"""Reading a roster file as a stream of rows, and checking its header."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from services.common.errors import AppError, FieldError
from services.registry.imports.columns import COLUMNS


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
