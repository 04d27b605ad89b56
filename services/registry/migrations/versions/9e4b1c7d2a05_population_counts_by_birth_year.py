"""population counts by birth year, kept by the database itself

Revision ID: 9e4b1c7d2a05
Revises: c7d2e8a41f90
Create Date: 2026-12-12 09:00:00.000000

Minors were counted by reading every current resident born in the last 14 years (on SQLite
through the wrong index: every resident of the subtree). Current residents per community
and birth year (dimension ``born``, value ``YYYY``) make that a sum over a few rows per
community. Triggers keep them, because every writer of residents must: the forms, the bulk
import's COPY and multi-row inserts, a repair by hand.

On SQLite a batch migration that recreates ``residents`` drops its triggers: it must create
them again (the statements below).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9e4b1c7d2a05"
down_revision: str | Sequence[str] | None = "c7d2e8a41f90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPSERT = "ON CONFLICT (community_code, dimension, value) DO UPDATE SET n = population_counts.n + excluded.n"

# Row triggers cost little inside SQLite; an update fires only when it sets one of the three
# columns (an import's edits set none of them).
_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER residents_count_born_insert AFTER INSERT ON residents
    WHEN NEW.status = 'current' BEGIN
        INSERT INTO population_counts (community_code, dimension, value, n)
        VALUES (NEW.community_code, 'born', substr(NEW.birth_date, 1, 4), 1) {_UPSERT};
    END""",
    f"""CREATE TRIGGER residents_count_born_update
    AFTER UPDATE OF status, community_code, birth_date ON residents
    WHEN OLD.status IS NOT NEW.status OR OLD.community_code IS NOT NEW.community_code
        OR OLD.birth_date IS NOT NEW.birth_date BEGIN
        INSERT INTO population_counts (community_code, dimension, value, n)
        SELECT OLD.community_code, 'born', substr(OLD.birth_date, 1, 4), -1
        WHERE OLD.status = 'current' {_UPSERT};
        INSERT INTO population_counts (community_code, dimension, value, n)
        SELECT NEW.community_code, 'born', substr(NEW.birth_date, 1, 4), 1
        WHERE NEW.status = 'current' {_UPSERT};
    END""",
    f"""CREATE TRIGGER residents_count_born_delete AFTER DELETE ON residents
    WHEN OLD.status = 'current' BEGIN
        INSERT INTO population_counts (community_code, dimension, value, n)
        VALUES (OLD.community_code, 'born', substr(OLD.birth_date, 1, 4), -1) {_UPSERT};
    END""",
]

# PostgreSQL: inserts and deletes once per statement over its transition table, so that a
# COPY of a thousand rows costs one grouped upsert, not a thousand; an update once per row
# and only when it moves a resident across a count (a transition table cannot say which
# columns an update set). Keys in order, so that two writers lock the rows in one order.
_PG_FUNCTION = f"""CREATE FUNCTION residents_count_born() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        INSERT INTO population_counts (community_code, dimension, value, n)
        SELECT community_code, 'born', to_char(birth_date, 'YYYY'), sum(d)::integer
        FROM (
            SELECT OLD.community_code, OLD.birth_date, -1 WHERE OLD.status = 'current'
            UNION ALL
            SELECT NEW.community_code, NEW.birth_date, 1 WHERE NEW.status = 'current'
        ) AS moved (community_code, birth_date, d)
        GROUP BY 1, 3 HAVING sum(d) <> 0 ORDER BY 1, 3
        {_UPSERT};
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO population_counts (community_code, dimension, value, n)
        SELECT community_code, 'born', to_char(birth_date, 'YYYY'), count(*)
        FROM new_rows WHERE status = 'current' GROUP BY 1, 3 ORDER BY 1, 3
        {_UPSERT};
    ELSE
        INSERT INTO population_counts (community_code, dimension, value, n)
        SELECT community_code, 'born', to_char(birth_date, 'YYYY'), -count(*)
        FROM old_rows WHERE status = 'current' GROUP BY 1, 3 ORDER BY 1, 3
        {_UPSERT};
    END IF;
    RETURN NULL;
END $$"""
_PG_TRIGGERS = [
    """CREATE TRIGGER residents_count_born_insert AFTER INSERT ON residents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION residents_count_born()""",
    """CREATE TRIGGER residents_count_born_update
    AFTER UPDATE OF status, community_code, birth_date ON residents FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
        OR OLD.community_code IS DISTINCT FROM NEW.community_code
        OR OLD.birth_date IS DISTINCT FROM NEW.birth_date)
    EXECUTE FUNCTION residents_count_born()""",
    """CREATE TRIGGER residents_count_born_delete AFTER DELETE ON residents
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION residents_count_born()""",
]
_TRIGGER_NAMES = ("insert", "update", "delete")


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    year = "substr(birth_date, 1, 4)" if _is_sqlite() else "to_char(birth_date, 'YYYY')"
    op.execute("DELETE FROM population_counts WHERE dimension = 'born'")
    op.execute(
        "INSERT INTO population_counts (community_code, dimension, value, n) "
        f"SELECT community_code, 'born', {year}, count(*) FROM residents "
        f"WHERE status = 'current' GROUP BY community_code, {year}"
    )
    if _is_sqlite():
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        op.execute(_PG_FUNCTION)
        for statement in _PG_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    for name in _TRIGGER_NAMES:
        on = "" if _is_sqlite() else " ON residents"
        op.execute(f"DROP TRIGGER IF EXISTS residents_count_born_{name}{on}")
    if not _is_sqlite():
        op.execute("DROP FUNCTION IF EXISTS residents_count_born()")
    op.execute("DELETE FROM population_counts WHERE dimension = 'born'")
