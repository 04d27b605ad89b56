"""What an uploaded roster may be, checked before it is parsed: a spreadsheet is a zip
archive, and what it expands to (or claims in its sheet's dimension) is read from the
archive's directory and the sheet's first bytes, so a bomb is refused in milliseconds
instead of filling memory and disk."""

from __future__ import annotations

import re
import zipfile
from typing import BinaryIO

from services.common.errors import AppError
from services.common.settings import Settings

_DIMENSION = re.compile(rb'<dimension[^>]*ref="[A-Z]+\d+:([A-Z]+)(\d+)"')


def _column_number(letters: bytes) -> int:
    n = 0
    for c in letters.decode():
        n = n * 26 + (ord(c) - 64)
    return n


def _refuse(limit: str, value: int, maximum: int, status: int = 413) -> AppError:
    return AppError("import.limit_exceeded", status, limit=limit, value=value, maximum=maximum)


def expanded_size(file: BinaryIO, settings: Settings) -> int:
    """The bytes an xlsx expands to, after checking it against every limit; the file's
    position is left at the start."""
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile:
        raise AppError("import.file_unreadable", 422) from None
    try:
        members = archive.infolist()
        total = sum(m.file_size for m in members)
        if total > settings.import_max_expanded_bytes:
            raise _refuse("expanded_bytes", total, settings.import_max_expanded_bytes)
        strings_limit = settings.import_max_shared_strings_bytes
        for member in members:
            if member.filename.endswith("sharedStrings.xml") and member.file_size > strings_limit:
                raise _refuse("shared_strings_bytes", member.file_size, strings_limit)
        sheets = sorted(m.filename for m in members if m.filename.startswith("xl/worksheets/sheet"))
        if sheets:
            with archive.open(sheets[0]) as sheet:
                head = sheet.read(4096)
            match = _DIMENSION.search(head)
            if match:
                columns, rows = _column_number(match.group(1)), int(match.group(2))
                if rows > settings.import_max_rows + 1:
                    raise _refuse("rows", rows - 1, settings.import_max_rows, 422)
                if columns > settings.import_max_columns:
                    raise _refuse("columns", columns, settings.import_max_columns, 422)
        return total
    finally:
        archive.close()
        file.seek(0)
