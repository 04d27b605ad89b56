"""Reading a roster file as a stream of rows, and checking its header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO

from openpyxl import load_workbook

from services.common.errors import AppError, FieldError
from services.common.pii import PiiCipher, SealedFile
from services.registry.imports.columns import COLUMNS
from services.registry.imports.encoding import open_text


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


def open_sealed(raw: BinaryIO, key: str, cipher: PiiCipher) -> BinaryIO:
    """A stored roster (see ``SealingReader``) as plain bytes, decrypted a chunk at a time
    from ``raw`` (the object store's reader); its label is the job's id, the name's first
    part."""
    label = key.rsplit("/", 1)[-1].split(".", 1)[0]
    return io.BufferedReader(SealedFile(cipher, raw, label), buffer_size=64 * 1024)


def roster_suffix(key: str) -> str:
    """``.csv`` or ``.xlsx``, from a stored roster's key or a file's name."""
    return ".csv" if key.removesuffix(SEALED).lower().endswith(".csv") else ".xlsx"


def open_rows(raw: BinaryIO, suffix: str, encoding: str | None = None) -> Iterator[list[Any]]:
    """Every row of the file's first sheet, header first; ``raw`` is the plain file, and
    ``encoding`` a CSV's (as ``check_csv`` found it; UTF-8 when not given)."""
    if suffix == ".csv":
        handle = open_text(raw, encoding)
        try:
            for row in csv.reader(handle):
                yield [v.strip() for v in row]  # a CSV's cells are all text
        finally:
            handle.detach()  # the caller closes ``raw``
        return
    # openpyxl in read-only mode streams the sheet's XML: memory stays flat whatever the
    # file's size. (python-calamine parses faster but holds the whole sheet: +120 MB for
    # 100,000 rows in bench/results/registry.json — too much for a phone-sized server.)
    workbook = load_workbook(raw, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell(v) for v in row]
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
