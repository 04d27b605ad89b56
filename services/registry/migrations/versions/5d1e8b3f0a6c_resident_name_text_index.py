"""resident names in the database's own text index

Revision ID: 5d1e8b3f0a6c
Revises: e2b6c9d4f713
Create Date: 2026-12-04 09:00:00.000000

A name is searched by any part of it (``name LIKE '%博然%'``). Under a street or a district
that scans every name in scope; the database's trigram index finds a part of three
characters or more without the scan:

- PostgreSQL: pg_trgm's GIN index on ``residents.name``, which the planner uses for
  ``LIKE`` / ``ILIKE '%...%'`` itself, so the query does not change;
- SQLite (3.34 and later): an FTS5 table with the trigram tokenizer over the names, its
  rowid the resident's rowid (external content: the names are not stored twice), kept by
  triggers for every writer. The search asks it first and keeps the ``LIKE`` as the exact
  test (repository.resident_query).

Either is left out where the database cannot have it (no pg_trgm on the server, an older
SQLite): the search then scans, as before. On SQLite a migration that recreates
``residents`` (a batch migration) drops these triggers and renumbers rowids: it must create
the triggers again and rebuild the table (``_SQLITE_STATEMENTS`` below).
"""

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision: str = "5d1e8b3f0a6c"
down_revision: str | Sequence[str] | None = "e2b6c9d4f713"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_PG_INDEX = "ix_residents_name_trgm"
_SQLITE_TRIGRAM = (3, 34, 0)  # the first SQLite whose FTS5 has tokenize='trigram'

# An update re-indexes a name only when it changed (an import's edits set every column).
_SQLITE_STATEMENTS = [
    """CREATE VIRTUAL TABLE resident_names USING fts5(
        name, content='residents', content_rowid='rowid', tokenize='trigram')""",
    """CREATE TRIGGER residents_names_insert AFTER INSERT ON residents BEGIN
        INSERT INTO resident_names (rowid, name) VALUES (NEW.rowid, NEW.name);
    END""",
    """CREATE TRIGGER residents_names_update AFTER UPDATE OF name ON residents
    WHEN OLD.name IS NOT NEW.name BEGIN
        INSERT INTO resident_names (resident_names, rowid, name)
        VALUES ('delete', OLD.rowid, OLD.name);
        INSERT INTO resident_names (rowid, name) VALUES (NEW.rowid, NEW.name);
    END""",
    """CREATE TRIGGER residents_names_delete AFTER DELETE ON residents BEGIN
        INSERT INTO resident_names (resident_names, rowid, name)
        VALUES ('delete', OLD.rowid, OLD.name);
    END""",
    # The names already there.
    "INSERT INTO resident_names (resident_names) VALUES ('rebuild')",
]
_SQLITE_TRIGGERS = ("residents_names_insert", "residents_names_update", "residents_names_delete")


def _upgrade_sqlite(bind) -> None:
    version = bind.execute(text("SELECT sqlite_version()")).scalar_one()
    if tuple(int(part) for part in version.split(".")[:3]) < _SQLITE_TRIGRAM:
        log.warning("SQLite %s has no trigram tokenizer: names are searched by a scan", version)
        return
    try:
        with bind.begin_nested():
            for statement in _SQLITE_STATEMENTS:
                bind.execute(text(statement))
    except DBAPIError as exc:  # built without FTS5
        log.warning("no FTS5 trigram table (%s): names are searched by a scan", exc.orig)


def _upgrade_postgres(bind) -> None:
    available = bind.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).scalar()
    if not available:
        log.warning("the server has no pg_trgm: names are searched by a scan")
        return
    try:
        with bind.begin_nested():
            # Trusted since PostgreSQL 13: the database's owner may create it. It lands in the
            # first schema of the path (the registry's) unless the database has it already.
            bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError as exc:
        log.warning("pg_trgm cannot be created (%s): names are searched by a scan", exc.orig)
        return
    # The operator class where the extension lives, which need not be on our search path.
    schema = bind.execute(
        text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pg_trgm'"
        )
    ).scalar_one()
    quoted = bind.dialect.identifier_preparer.quote(schema)
    bind.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {_PG_INDEX} ON residents"
            f" USING gin (name {quoted}.gin_trgm_ops)"
        )
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _upgrade_sqlite(bind)
    else:
        _upgrade_postgres(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS resident_names")
    else:
        # The extension stays: other things in the database may use it.
        op.execute(f"DROP INDEX IF EXISTS {_PG_INDEX}")
