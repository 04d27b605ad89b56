"""Reading a roster file as a stream of rows, and checking its header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import load_workbook

from services.common.errors import AppError, FieldError
from services.common.pii import PiiCipher, SealedFile
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


SEALED = ".sealed"


def _open_binary(path: Path, cipher: PiiCipher | None) -> BinaryIO:
    """The stored roster as plain bytes: a sealed one (see ``seal_file``) is decrypted a
    chunk at a time; its label is the job's id, the name's first part."""
    if path.name.endswith(SEALED):
        if cipher is None:
            raise AppError("import.file_unreadable", 422)
        label = path.name.split(".", 1)[0]
        return io.BufferedReader(SealedFile(cipher, path, label), buffer_size=64 * 1024)
    return path.open("rb")


def _is_csv(path: Path) -> bool:
    return path.name.removesuffix(SEALED).lower().endswith(".csv")


def open_rows(path: Path, cipher: PiiCipher | None = None) -> Iterator[list[Any]]:
    """Every row of the file's first sheet, header first."""
    if _is_csv(path):
        with _open_binary(path, cipher) as raw:
            handle = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            for row in csv.reader(handle):
                yield [_cell(v) for v in row]
        return
    # openpyxl in read-only mode streams the sheet's XML: memory stays flat whatever the
    # file's size. (python-calamine parses faster but holds the whole sheet: +120 MB for
    # 100,000 rows in bench/results/registry.json — too much for a phone-sized server.)
    with _open_binary(path, cipher) as raw:
        workbook = load_workbook(raw, read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            for row in sheet.iter_rows(values_only=True):
                yield [_cell(v) for v in row]
        finally:
            workbook.close()


def read_header(path: Path, cipher: PiiCipher | None = None) -> list[str]:
    try:
        for row in open_rows(path, cipher):
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
