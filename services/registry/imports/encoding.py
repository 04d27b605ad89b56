"""The text encoding of a CSV roster. Excel and WPS on a Chinese Windows save "CSV (逗号分隔)"
in the system's ANSI code page, GBK (936), and "CSV UTF-8" as UTF-8 with a BOM; some tools
write GB18030, with or without its BOM (84 31 95 33). GB18030 is a superset of GBK (and of
GB2312), so two candidates cover every file a community worker has: UTF-8 first, because a
strict UTF-8 decode of Chinese text in GBK fails within a few characters (its byte pairs are
almost never valid UTF-8 sequences), then GB18030, strictly too: a file neither decodes is
refused as unreadable, never read as mojibake.

No statistical detector (charset-normalizer is in the venv only as a test tool's dependency,
not the platform's): for this closed set a strict decode cannot guess wrong, and a detector
can (short Chinese samples come back as Big5 or cp949).
"""

from __future__ import annotations

import codecs
import io
from typing import BinaryIO

UTF8 = "utf-8-sig"  # reads a BOM if there is one, and none if not
GB18030 = "gb18030"
ENCODINGS = (UTF8, GB18030)

UTF8_BOM = codecs.BOM_UTF8
GB18030_BOM = "\ufeff".encode(GB18030)

_SNIFF = 64 * 1024


def sniff(file: BinaryIO) -> str | None:
    """The encoding the file's first 64 KiB say, the position left where it was: UTF-8 if
    they decode as UTF-8 (a character cut at the end is not a fault), GB18030 otherwise;
    None for no text at all (a NUL byte: UTF-16, as Excel's "Unicode 文本", or a binary
    file, which both encodings would read as garbage). A file ASCII at its start may still
    turn out to be GBK further on: ``check_csv`` reads it through and tries GB18030 then."""
    start = file.tell()
    head = file.read(_SNIFF)
    file.seek(start)
    if b"\x00" in head:
        return None
    if head.startswith(GB18030_BOM):
        return GB18030
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
    except UnicodeDecodeError:
        return GB18030
    return UTF8


def open_text(file: BinaryIO, encoding: str | None) -> io.TextIOWrapper:
    """The file as text for ``csv.reader``, its BOM (of either encoding) dropped; detach the
    answer when done, so that closing it does not close ``file``."""
    encoding = encoding or UTF8
    if encoding == GB18030:
        start = file.tell()
        if file.read(len(GB18030_BOM)) != GB18030_BOM:
            file.seek(start)
    return io.TextIOWrapper(file, encoding=encoding, errors="strict", newline="")
