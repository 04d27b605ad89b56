"""What an uploaded roster may be, checked before it is parsed: a spreadsheet is a zip
archive, and what it expands to (or claims in its sheet's dimension) is read from the
archive's directory and the sheet's first bytes, so a bomb is refused in milliseconds
instead of filling memory and disk. A CSV is read through once, a line at a time, against
the same limits on rows, columns and cell length; no record is ever held longer than the
limits allow."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from services.common.errors import AppError
from services.common.settings import Settings
from services.registry.imports.encoding import GB18030, UTF8, UTF8_BOM, open_text, sniff

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


class _BoundedLines:
    """The physical lines of a CSV for ``csv.reader``, refusing a record (which may span
    lines inside quotes) that grows past what ``columns`` cells of ``cell_chars`` each can
    take, before it is whole: a 60 MB line is never read into memory."""

    def __init__(self, handle: io.TextIOBase, settings: Settings) -> None:
        self.handle = handle
        self.settings = settings
        # every cell quoted, every character a doubled quote, a comma after each
        self.most = settings.import_max_columns * (2 * settings.import_max_cell_chars + 3)
        self.pending = 0
        self.commas = 0

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        line = self.handle.readline(self.most + 1)
        if not line:
            raise StopIteration
        self.pending += len(line)
        self.commas += line.count(",")
        if self.pending > self.most:
            raise self.too_long()
        return line

    def too_long(self) -> AppError:
        s = self.settings
        if self.commas + 1 > s.import_max_columns:
            return _refuse("columns", self.commas + 1, s.import_max_columns, 422)
        return _refuse("cell_chars", self.pending, s.import_max_cell_chars, 422)

    def record_done(self) -> None:
        self.pending = self.commas = 0


def bounded_csv_rows(file: BinaryIO, settings: Settings, encoding: str) -> Iterator[list[str]]:
    """The rows of a CSV (header included), each checked against the limits on rows,
    columns and cell length as it is read; the file itself is left open. A byte sequence
    ``encoding`` does not map raises ``UnicodeDecodeError``."""
    handle = open_text(file, encoding)
    lines = _BoundedLines(handle, settings)
    max_rows, max_columns = settings.import_max_rows, settings.import_max_columns
    max_chars = settings.import_max_cell_chars
    try:
        for number, row in enumerate(csv.reader(lines)):
            lines.record_done()
            if number > max_rows:  # the header is row 0
                raise _refuse("rows", number, max_rows, 422)
            if len(row) > max_columns:
                raise _refuse("columns", len(row), max_columns, 422)
            longest = max(map(len, row), default=0)
            if longest > max_chars:
                raise _refuse("cell_chars", longest, max_chars, 422)
            yield row
    except csv.Error:
        # csv's own guard (a field over 128 Ki characters) is far past our cell limit
        raise _refuse("cell_chars", csv.field_size_limit(), max_chars, 422) from None
    finally:
        handle.detach()  # closing the wrapper would close the upload


@dataclass(frozen=True)
class CsvChecked:
    rows: int  # the header not counted
    encoding: str  # the file's text encoding, for every later read of it


def check_csv(file: BinaryIO, settings: Settings) -> CsvChecked:
    """Read a CSV through against the limits before it is stored or parsed, in the encoding
    its start suggests, and once more in GB18030 if a later byte is not UTF-8 (a roster
    ASCII for pages, then a name in GBK); answers its rows and encoding and leaves the
    file's position at the start. A file neither encoding reads is unreadable."""
    start = file.tell()
    first = sniff(file)
    file.seek(start)
    bom = file.read(len(UTF8_BOM)) == UTF8_BOM
    if first is None:
        candidates = []
    elif first == GB18030 or bom:
        candidates = [first]
    else:
        candidates = [UTF8, GB18030]
    try:
        for encoding in candidates:
            file.seek(start)
            try:
                rows = sum(1 for _ in bounded_csv_rows(file, settings, encoding))
            except UnicodeDecodeError:
                continue
            return CsvChecked(max(rows - 1, 0), encoding)
        raise AppError("import.file_unreadable", 422)
    finally:
        file.seek(start)
