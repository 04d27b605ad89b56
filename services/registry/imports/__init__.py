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
``reading`` streams a file's rows, ``rows`` validates one row, ``writing`` writes a batch,
``jobs`` runs a job from its stored file to the end (and again after a restart).
"""

from services.registry.imports.columns import COLUMNS, KINDS, errors_xlsx, template_xlsx
from services.registry.imports.jobs import run_import
from services.registry.imports.limits import check_csv, expanded_size
from services.registry.imports.reading import SEALED, check_header, read_header

__all__ = [
    "COLUMNS",
    "KINDS",
    "check_csv",
    "check_header",
    "errors_xlsx",
    "read_header",
    "expanded_size",
    "SEALED",
    "run_import",
    "template_xlsx",
]
