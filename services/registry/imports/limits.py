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
from xml.parsers import expat

from openpyxl.reader.excel import ExcelReader
from openpyxl.xml.constants import SHARED_STRINGS

from services.common.errors import AppError
from services.common.settings import Settings
from services.registry.imports.encoding import GB18030, UTF8, UTF8_BOM, open_text, sniff

_DIMENSION = re.compile(rb'<dimension[^>]*ref="[A-Z]+\d+:([A-Z]+)(\d+)"')
_CHUNK = 64 * 1024
# Excel holds at most 32,767 characters in a cell, so a longer string is no spreadsheet's:
# it is refused from the archive. A shorter one past ``import_max_cell_chars`` is a row
# error naming its column (rows.py), the rest of the file imported.
EXCEL_CELL_CHARS = 32_767
# The parts of one string's text: rich-text runs and their properties. The text under
# them adds to the string (``<si>``, ``<is>``) or value (``<v>``, ``<f>``) they are part
# of; any other element starts a new count, so no run of text anywhere escapes the bound.
_RUN_PARTS = frozenset(
    {"r", "t", "rPh", "rPr", "phoneticPr", "rFont", "charset", "family", "b", "i"}
    | {"strike", "outline", "shadow", "condense", "extend", "color", "sz", "u"}
    | {"vertAlign", "scheme"}
)


def _column_number(letters: bytes | str) -> int:
    n = 0
    for c in letters.decode() if isinstance(letters, bytes) else letters:
        n = n * 26 + (ord(c) - 64)
    return n


def _refuse(limit: str, value: int, maximum: int, status: int = 413) -> AppError:
    return AppError("import.limit_exceeded", status, limit=limit, value=value, maximum=maximum)


class _PartScan:
    """One pass of expat over an archive member, a chunk at a time, with the text of the
    element being read counted rather than kept: memory is the chunk, whatever the part
    holds. Element names are taken without their prefix (``x:row`` is a row).

    A string's text lies between the start tag that begins it and the next that begins
    another, and no character takes less than a byte: so the first pass measures the bytes
    between those tags, not the text, and only a part where some span is longer than the
    bound is read again, counting characters. The handler of start tags is called for
    every element of the sheet (three a cell), so it keeps its state in its closure."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.max_chars = max(settings.import_max_cell_chars, EXCEL_CELL_CHARS)
        self._local: dict[str, str] = {}

    def local(self, name: str) -> str:
        tag = self._local.get(name)
        if tag is None:
            tag = self._local[name] = name.rpartition(":")[2]
        return tag

    def handlers(self, parser, exact: bool):
        """The start-tag handler of a pass, and the text handler of an exact one; they
        refuse what is past a limit. ``self.since`` is where the last string began."""
        local, max_chars, run_parts = self.local, self.max_chars, _RUN_PARTS
        self.since = 0
        chars = 0

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal chars
            if local(name) in run_parts:
                return
            if exact:
                chars = 0
                return
            at = parser.CurrentByteIndex
            if at - self.since > max_chars:
                self.long_span = True
            self.since = at

        def text(data: str) -> None:
            nonlocal chars
            chars += len(data)
            if chars > max_chars:
                raise _refuse("cell_chars", chars, max_chars, 422)

        return start, text

    def run(self, archive: zipfile.ZipFile, member: str) -> None:
        self._pass(archive, member, exact=False)
        if self.long_span or archive.getinfo(member).file_size - self.since > self.max_chars:
            self._pass(archive, member, exact=True)

    def _pass(self, archive: zipfile.ZipFile, member: str, exact: bool) -> None:
        self.long_span = False
        parser = expat.ParserCreate()
        parser.buffer_text = True
        parser.buffer_size = _CHUNK
        start, text = self.handlers(parser, exact)
        parser.StartElementHandler = start
        if exact:
            parser.CharacterDataHandler = text
        parser.StartDoctypeDeclHandler = _no_doctype  # no entities, no billion laughs
        try:
            with archive.open(member) as source:
                while chunk := source.read(_CHUNK):
                    parser.Parse(chunk, False)
                parser.Parse(b"", True)
        except expat.ExpatError:
            raise AppError("import.file_unreadable", 422) from None


def _no_doctype(*_: object) -> None:
    raise AppError("import.file_unreadable", 422)


class _StringsScan(_PartScan):
    """``xl/sharedStrings.xml``: each ``<si>``, its rich-text runs together, within the
    bound (openpyxl holds every string at once, and copies a long one several times over
    while it builds it: one 30 MB string took the registry from 235 to 881 MB)."""


class _SheetScan(_PartScan):
    """The first sheet's rows and cells as openpyxl will yield them: a row is numbered by
    its ``r`` or follows the last, a cell by its ``r`` or follows the last, and openpyxl
    fills the gaps, so the highest number is what counts, not how many elements there
    are; an inline string, a value or a formula within the bound. Its rows and widest row
    are kept (``rows``, ``widest``): what a reader that holds the sheet holds."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.max_rows = settings.import_max_rows + 1  # the header is a row of the sheet
        self.max_columns = settings.import_max_columns
        self._columns: dict[str, int] = {}
        self.rows = self.widest = 0

    def column_number(self, letters: str) -> int:
        column = self._columns.get(letters)
        if column is None:
            column = self._columns[letters] = _column_number(letters.upper())
        return column

    def handlers(self, parser, exact: bool):
        local, max_chars, run_parts = self.local, self.max_chars, _RUN_PARTS
        max_rows, max_columns, column_number = self.max_rows, self.max_columns, self.column_number
        string_start, text = super().handlers(parser, exact)
        row = column = 0
        self.rows = self.widest = 0

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal row, column
            tag = local(name)
            if tag in run_parts:
                return
            if exact:
                string_start(name, attrs)  # counts from zero again
            else:
                at = parser.CurrentByteIndex
                if at - self.since > max_chars:
                    self.long_span = True
                self.since = at
            if tag == "c":
                ref = attrs.get("r")
                column = column_number(ref.rstrip("0123456789")) if ref else column + 1
                if column > max_columns:
                    raise _refuse("columns", column, max_columns, 422)
                if column > self.widest:
                    self.widest = column
            elif tag == "row":
                column = 0
                number = attrs.get("r")
                row = int(number) if number and number.isdigit() else row + 1
                if row > max_rows:
                    raise _refuse("rows", row - 1, max_rows - 1, 422)
                self.rows = max(self.rows, row)

        return start, text


def _is_strings(name: str) -> bool:
    return name.endswith("sharedStrings.xml")


def _parts(reader: ExcelReader) -> tuple[str | None, str | None]:
    """The shared strings and the first worksheet, found as openpyxl finds them (the
    package's content types, the workbook's first sheet and its relationship), so a part
    under another name is checked all the same."""
    reader.read_manifest()
    found = reader.package.find(SHARED_STRINGS)
    strings = found.PartName[1:] if found is not None else None
    reader.read_workbook()
    for _, rel in reader.parser.find_sheets():
        if rel.target in reader.valid_files and "chartsheet" not in rel.Type:
            return strings, rel.target
    return strings, None


@dataclass(frozen=True)
class XlsxChecked:
    expanded: int  # the bytes the archive expands to
    cells: int  # the first sheet's rows by its widest row


def expanded_size(file: BinaryIO, settings: Settings) -> XlsxChecked:
    """What an xlsx expands to and its first sheet's cells, after checking it against every
    limit; the file's position is left at the start. The archive's directory says what it
    expands to; the shared strings and the first sheet are then read through once, a chunk
    at a time, for the longest string, the rows and the widest row (a ``<dimension>`` is
    optional, and may claim less than the sheet holds)."""
    try:
        reader = ExcelReader(file, read_only=True, data_only=True)
    except zipfile.BadZipFile:
        raise AppError("import.file_unreadable", 422) from None
    archive = reader.archive
    try:
        members = archive.infolist()
        total = sum(m.file_size for m in members)
        if total > settings.import_max_expanded_bytes:
            raise _refuse("expanded_bytes", total, settings.import_max_expanded_bytes)
        try:
            strings, sheet = _parts(reader)
        except Exception:  # no workbook openpyxl could open either
            raise AppError("import.file_unreadable", 422) from None
        # the part openpyxl will read, and any under the usual name
        strings_parts = [m for m in members if m.filename == strings or _is_strings(m.filename)]
        strings_limit = settings.import_max_shared_strings_bytes
        for member in strings_parts:
            if member.file_size > strings_limit:
                raise _refuse("shared_strings_bytes", member.file_size, strings_limit)
        cells = 0
        if sheet is not None:
            with archive.open(sheet) as source:
                head = source.read(4096)
            match = _DIMENSION.search(head)
            if match:  # openpyxl pads the rows up to what it claims
                columns, rows = _column_number(match.group(1)), int(match.group(2))
                if rows > settings.import_max_rows + 1:
                    raise _refuse("rows", rows - 1, settings.import_max_rows, 422)
                if columns > settings.import_max_columns:
                    raise _refuse("columns", columns, settings.import_max_columns, 422)
                cells = rows * columns  # a reader may size the sheet by it
            scan = _SheetScan(settings)
            scan.run(archive, sheet)
            cells = max(cells, scan.rows * scan.widest)
        for member in strings_parts:
            _StringsScan(settings).run(archive, member.filename)
        return XlsxChecked(total, cells)
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
