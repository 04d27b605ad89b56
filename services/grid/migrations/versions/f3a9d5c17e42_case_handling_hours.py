"""handling time kept on the case

A case keeps its handling time (working hours from dispatch to handling, on the grid's
calendar) from the moment it is handled, so that the KPIs sum and rank it in the database
instead of counting each case's working hours in Python. The cases already handled get
theirs here, on the deployment's calendar (its zone, holidays and make-up working days).
The KPIs of a period read one index that holds every column they count.

Revision ID: f3a9d5c17e42
Revises: a4c8e2f61b35
Create Date: 2026-12-14 09:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import context, op

from services.common.database import UTCDateTime
from services.common.settings import get_settings
from services.grid.calendar import WorkCalendar

revision: str = "f3a9d5c17e42"
down_revision: str | Sequence[str] | None = "a4c8e2f61b35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNMEASURED = "handling_hours IS NULL AND handled_at IS NOT NULL AND dispatched_at IS NOT NULL"
BATCH = 20_000
# What the KPIs of a period read, so that they read this index alone.
KPI_COLUMNS = [
    "created_at",
    "cell_code",
    "status",
    "closed_on_time",
    "rework_count",
    "deadline_at",
    "handling_hours",
]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

cases = sa.table(
    "cases",
    sa.column("id", sa.String),
    sa.column("dispatched_at", UTCDateTime()),
    sa.column("handled_at", UTCDateTime()),
    sa.column("handling_hours", sa.Float),
)
holidays = sa.table("holidays", sa.column("day", sa.Date), sa.column("working", sa.Boolean))


def _calendar(connection) -> WorkCalendar:
    settings = context.config.attributes.get("settings") or get_settings()
    days = connection.execute(sa.select(holidays.c.day, holidays.c.working)).all()
    return WorkCalendar(
        zone=ZoneInfo(settings.timezone),
        holidays=frozenset(day for day, working in days if not working),
        workdays=frozenset(day for day, working in days if working),
    )


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _measure_handled_cases() -> None:
    """Every handled case's working hours, a batch at a time in the order of its id."""
    connection = op.get_bind()
    calendar = _calendar(connection)
    postgres = connection.dialect.name == "postgresql"
    fill = sa.text(
        "UPDATE cases SET handling_hours = m.h FROM unnest(CAST(:ids AS varchar[]),"
        " CAST(:hours AS float8[])) AS m (id, h) WHERE cases.id = m.id"
    )
    after = ""
    while True:
        rows = connection.execute(
            sa.select(cases.c.id, cases.c.dispatched_at, cases.c.handled_at)
            .where(cases.c.id > after, sa.text(UNMEASURED))
            .order_by(cases.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        hours = calendar.working_hours_many([_us(r[1]) for r in rows], [_us(r[2]) for r in rows])
        ids = [r[0] for r in rows]
        if postgres:  # one statement a batch, not one a row
            connection.execute(fill, {"ids": ids, "hours": hours})
        else:
            connection.execute(
                cases.update()
                .where(cases.c.id == sa.bindparam("case_id"))
                .values(handling_hours=sa.bindparam("hours")),
                [{"case_id": i, "hours": h} for i, h in zip(ids, hours, strict=True)],
            )
        after = ids[-1]


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("handling_hours", sa.Float(), nullable=True))
    _measure_handled_cases()
    op.create_index("ix_cases_kpis", "cases", KPI_COLUMNS, unique=False)
    op.create_index(
        "ix_cases_unmeasured",
        "cases",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text(UNMEASURED),
        sqlite_where=sa.text(UNMEASURED),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_unmeasured", table_name="cases")
    op.drop_index("ix_cases_kpis", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("handling_hours")
