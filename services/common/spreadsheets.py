"""Spreadsheets the platform writes: every cell is data, never a formula. A name typed as
``=HYPERLINK("http://…","点击")`` in a roster must come back as that text in the error
sheet, not as a live link that a community worker's Excel follows (CSV/formula injection)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

# What makes Excel, WPS or LibreOffice read a cell as a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def looks_like_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def writable(value: Any) -> Any:
    """Text as a sheet can hold it: the control characters XML 1.0 has no place for (which
    openpyxl refuses with an error) are left out; anything else as it is."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def data_row(ws, values: Iterable[Any]) -> list[Any]:
    """A row for ``ws.append`` on a write-only sheet: text that looks like a formula is a
    text cell (with Excel's quote prefix, so an edit keeps it text)."""
    row = []
    for value in map(writable, values):
        if looks_like_formula(value):
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"
            cell.quotePrefix = True
            row.append(cell)
        else:
            row.append(value)
    return row


def set_data(cell, value: Any) -> None:
    """``cell.value = value`` on an ordinary (not write-only) sheet, text that looks like a
    formula kept as text, as ``data_row`` does."""
    value = writable(value)
    cell.value = value
    if looks_like_formula(value):
        cell.data_type = "s"
        cell.quotePrefix = True
