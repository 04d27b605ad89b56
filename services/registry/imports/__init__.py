"""Roster imports: the Excel and CSV files communities already keep.

A file is read as a stream of rows (the csv module for .csv; for .xlsx python-calamine,
which holds the sheet, up to ``import_xlsx_in_memory_max_cells``, and openpyxl's read-only
mode past it), validated, encrypted and written in batches, each batch in its own
transaction, so a bad row never blocks the good ones and memory stays bounded whatever the
file's size.
Re-importing a file changes nothing: residents are matched by the blind index of their ID
number, buildings by name, households by door, units by credit code. Every bad row is kept
with its values, for the error spreadsheet.

``columns`` names the columns of each kind and makes the spreadsheets handed out,
``reading`` streams a file's rows, ``rows`` validates one row, ``pipeline`` brings the
parsed batches to the writer (from a thread, or from a process of its own for a large
roster), ``writing`` prepares a batch and applies it, ``jobs`` runs a job from its stored
file to the end (and again after a restart).
"""

from importlib import import_module

# Where each name lives. Loaded on first use, so that the roster's parsing process, which
# imports ``pipeline`` and what parsing needs, starts without the writer and the models.
_NAMES = {
    "COLUMNS": "columns",
    "KINDS": "columns",
    "errors_xlsx": "columns",
    "template_xlsx": "columns",
    "run_import": "jobs",
    "check_csv": "limits",
    "expanded_size": "limits",
    "SEALED": "reading",
    "check_header": "reading",
    "read_header": "reading",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_NAMES[name]}"), name)
    globals()[name] = value
    return value
