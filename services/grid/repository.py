"""Every query the grid service makes; scope is applied here."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.history import history_page
from services.common.pagination import PageParams, paginate
from services.common.scope import any_prefix_clause, prefix_clause, scope_clause
from services.grid.models import (
    UNMEASURED,
    Case,
    CaseCategory,
    CaseEvent,
    Cell,
    CellMember,
    CellMemberRemoval,
    FindingTag,
    Holiday,
    Visit,
    change_history,
)
from services.grid.workflow import OPEN_STATUSES

# The key of the transaction lock every change of the map takes (any bigint of our own:
# advisory keys are per database, shared by every schema in it).
CELL_MAP_LOCK = 0x6772_6964_6365_6C6C  # "gridcell"


async def lock_cell_map(session: AsyncSession) -> None:
    """Hold the map, to this transaction's end, for a change of cells: the next code and
    the overlap check are read by one writer at a time, and each sees the cells the one
    before it committed. The overlap rule is about a region, not a row (a cell drawn in
    another community may overlap too), so there is no row to lock: PostgreSQL's
    transaction-level advisory lock stands for the map. Cells change rarely, so one lock
    for the whole map costs nothing. On SQLite the write transaction holds the database
    already."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CELL_MAP_LOCK})


def cells_in_scope(principal: Principal):
    return scope_clause(Cell.code, principal)


async def _in_parts(session: AsyncSession, stmt, size: int = 500) -> list[Any]:
    """Every row, fetched and turned into Python a part at a time: between parts the event
    loop serves others (thousands of rows at once would hold it for tens of ms)."""
    rows: list[Any] = []
    async for part in (await session.stream(stmt)).partitions(size):
        rows.extend(part)
    return rows


async def live_cell_rows(
    session: AsyncSession, codes: list[str] | None = None
) -> list[tuple[str, str, str, str, datetime]]:
    """Live cells (all, or those of ``codes``) as the locate index reads them: (code, name,
    community, boundary as GeoJSON text, updated_at). Plain rows, and the boundary left as
    text for shapely to parse: no ORM objects nor JSON decoding for thousands of cells."""
    stmt = select(
        Cell.code,
        Cell.name,
        Cell.community_code,
        cast(Cell.boundary, Text),
        Cell.updated_at,
    ).where(Cell.deleted_at.is_(None))
    if codes is not None:
        stmt = stmt.where(Cell.code.in_(codes))
    return await _in_parts(session, stmt)


async def cell_map_fingerprint(session: AsyncSession) -> tuple[int, int, datetime | None]:
    """(cells ever drawn, live cells, latest ``updated_at`` of any cell): a change of cells
    anywhere changes it (a deletion stamps ``updated_at`` too), at the cost of one row. The
    counts catch what the latest time cannot: a cell drawn while some row carries a later
    time (a replica whose clock runs ahead); an edit hidden that way waits for the scan."""
    stmt = select(
        func.count(Cell.code),
        func.count(Cell.code).filter(Cell.deleted_at.is_(None)),
        func.max(Cell.updated_at),
    )
    drawn, live, latest = (await session.execute(stmt)).one()
    return drawn, live, latest


async def live_cell_versions(session: AsyncSession) -> dict[str, datetime]:
    """Each live cell's ``updated_at``: what another process's index compares with its own."""
    stmt = select(Cell.code, Cell.updated_at).where(Cell.deleted_at.is_(None))
    return dict(await _in_parts(session, stmt))


async def live_cells_near(
    session: AsyncSession, bounds: tuple[float, float, float, float]
) -> list[Cell]:
    """Live cells whose bounding box meets ``bounds`` (min_lng, min_lat, max_lng, max_lat);
    a cell saved before boxes were kept is always a candidate."""
    min_lng, min_lat, max_lng, max_lat = bounds
    stmt = select(Cell).where(
        Cell.deleted_at.is_(None),
        or_(
            Cell.min_lat.is_(None),
            and_(
                Cell.min_lng <= max_lng,
                Cell.max_lng >= min_lng,
                Cell.min_lat <= max_lat,
                Cell.max_lat >= min_lat,
            ),
        ),
    )
    return list((await session.scalars(stmt)).all())


async def cell(
    session: AsyncSession, principal: Principal, code: str, *, live: bool = True
) -> Cell | None:
    stmt = select(Cell).where(Cell.code == code, cells_in_scope(principal))
    if live:
        stmt = stmt.where(Cell.deleted_at.is_(None))
    return await session.scalar(stmt)


async def cell_any(session: AsyncSession, code: str) -> Cell | None:
    return await session.get(Cell, code)


async def last_cell_code(session: AsyncSession, community: str) -> str | None:
    return await session.scalar(select(func.max(Cell.code)).where(Cell.community_code == community))


async def list_cells(
    session: AsyncSession, principal: Principal, params: PageParams, *, community: str | None
) -> tuple[list[Cell], str | None]:
    stmt = select(Cell).where(Cell.deleted_at.is_(None), cells_in_scope(principal))
    if community:
        stmt = stmt.where(prefix_clause(Cell.code, community))
    return await paginate(session, stmt, [Cell.code], params)


async def members(session: AsyncSession, codes: list[str]) -> dict[str, list[CellMember]]:
    out: dict[str, list[CellMember]] = {c: [] for c in codes}
    if codes:
        rows = await session.scalars(
            select(CellMember)
            .where(CellMember.cell_code.in_(codes))
            .order_by(CellMember.role, CellMember.user_id)
        )
        for m in rows:
            out[m.cell_code].append(m)
    return out


async def cells_of_user(session: AsyncSession, user_id: str) -> list[str]:
    rows = await session.scalars(
        select(CellMember.cell_code)
        .join(Cell, Cell.code == CellMember.cell_code)
        .where(CellMember.user_id == user_id, Cell.deleted_at.is_(None))
        .order_by(CellMember.cell_code)
    )
    return list(rows.all())


async def finding_codes(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(FindingTag.code))).all())


async def list_findings(session: AsyncSession) -> list[FindingTag]:
    return list((await session.scalars(select(FindingTag).order_by(FindingTag.code))).all())


async def visit(session: AsyncSession, visit_id: str) -> Visit | None:
    return await session.get(Visit, visit_id)


def visits_in_scope(principal: Principal):
    if principal.unrestricted:
        return scope_clause(Visit.community_code, principal)
    area = [p for p in principal.scope if len(p) <= 12]
    cells = [p for p in principal.scope if len(p) > 12]
    clauses = []
    if area:
        clauses.append(any_prefix_clause(Visit.community_code, area))
    if cells:
        clauses.append(any_prefix_clause(Visit.cell_code, cells))
    from sqlalchemy import false, or_

    return or_(*clauses) if clauses else false()


async def list_visits(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    cell: str | None,
    household_id: str | None,
    worker_id: str | None,
) -> tuple[list[Visit], str | None]:
    stmt = select(Visit).where(visits_in_scope(principal))
    if cell:
        stmt = stmt.where(Visit.cell_code == cell)
    if household_id:
        stmt = stmt.where(Visit.household_id == household_id)
    if worker_id:
        stmt = stmt.where(Visit.worker_id == worker_id)
    return await paginate(session, stmt, [Visit.id], params, descending=True)


async def visited_households(
    session: AsyncSession, cell: str, start: datetime, end: datetime
) -> int:
    return (
        await session.scalar(
            select(func.count(func.distinct(Visit.household_id))).where(
                Visit.cell_code == cell, Visit.visited_at >= start, Visit.visited_at < end
            )
        )
        or 0
    )


async def category(session: AsyncSession, code: str) -> CaseCategory | None:
    return await session.get(CaseCategory, code)


async def category_names(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    """The Chinese names of the categories ``codes`` (the ones a page of cases names)."""
    if not codes:
        return {}
    stmt = select(CaseCategory.code, CaseCategory.name).where(CaseCategory.code.in_(codes))
    return dict((await session.execute(stmt)).all())


async def list_categories(session: AsyncSession) -> list[CaseCategory]:
    return list(
        (
            await session.scalars(
                select(CaseCategory)
                .where(CaseCategory.active.is_(True))
                .order_by(CaseCategory.code)
            )
        ).all()
    )


async def holidays(session: AsyncSession) -> list[Holiday]:
    return list((await session.scalars(select(Holiday))).all())


def cases_in_scope(principal: Principal):
    """Staff see cases in their cells or areas; a resident or a unit contact sees the cases
    they reported (and a unit contact those dispatched to its unit)."""
    from sqlalchemy import or_

    if principal.unrestricted:
        return scope_clause(Case.cell_code, principal)
    if principal.has_role("open311"):  # an outside app's key: the public requests of its area
        return any_prefix_clause(Case.community_code, principal.scope)
    if principal.has_role("resident") or principal.has_role("unit_contact"):
        clauses = [Case.reporter_id == principal.user_id]
        if principal.unit_id:
            clauses.append(Case.dispatched_unit_id == principal.unit_id)
        return or_(*clauses)
    return any_prefix_clause(Case.cell_code, principal.scope)


async def case(session: AsyncSession, principal: Principal, case_id: str) -> Case | None:
    return await session.scalar(select(Case).where(Case.id == case_id, cases_in_scope(principal)))


async def case_id_taken(session: AsyncSession, case_id: str) -> bool:
    """Whether an id a phone made offline is already used, by anyone (unscoped on purpose:
    a replay answers 409 instead of a second case)."""
    return await session.get(Case, case_id) is not None


def case_query(
    principal: Principal,
    *,
    status: str | None,
    overdue: bool | None,
    cell: str | None,
    community: str | None,
    category: str | None,
    now: datetime,
) -> Select:
    stmt = select(Case).where(cases_in_scope(principal))
    if status == "open":
        stmt = stmt.where(Case.status.in_(OPEN_STATUSES))
    elif status:
        stmt = stmt.where(Case.status == status)
    if overdue:
        stmt = stmt.where(Case.status.in_(OPEN_STATUSES), Case.deadline_at < now)
    if cell:
        stmt = stmt.where(Case.cell_code == cell)
    if community:
        stmt = stmt.where(prefix_clause(Case.community_code, community))
    if category:
        stmt = stmt.where(Case.category_code == category)
    return stmt


async def nearby_open_cases(
    session: AsyncSession, category: str, lat: float, lng: float, since: datetime, deg: float
) -> list[Case]:
    rows = await session.scalars(
        select(Case).where(
            Case.category_code == category,
            Case.status.in_(OPEN_STATUSES),
            Case.created_at >= since,
            Case.lat.between(lat - deg, lat + deg),
            Case.lng.between(lng - deg * 1.5, lng + deg * 1.5),
        )
    )
    return list(rows.all())


async def case_history(session: AsyncSession, case_id: str) -> list[CaseEvent]:
    rows = await session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at, CaseEvent.id)
    )
    return list(rows.all())


def _kpi_cases(prefix: str, start: datetime, end: datetime):
    return (
        prefix_clause(Case.cell_code, prefix),
        Case.created_at >= start,
        Case.created_at < end,
    )


async def case_kpis(
    session: AsyncSession, prefix: str, start: datetime, end: datetime, group_len: int, now
) -> list[Any]:
    """Per group of cells (the first ``group_len`` digits of the code), the period's cases
    in one query: reported, closed, closed on time, closed after rework, open past their
    deadline at ``now``, and the median of the handling times kept — the mean of the middle
    one or two of each group's, as ``statistics.median`` takes it, float for float."""
    group = func.substr(Case.cell_code, 1, group_len)
    if session.bind.dialect.name == "postgresql":
        # The lower and the upper middle: the first value at or past half way, ascending
        # and descending (the same one when the count is odd). Each group's values are
        # sorted on their own, in memory.
        hours = Case.handling_hours
        median = (
            func.percentile_disc(0.5).within_group(hours)
            + func.percentile_disc(0.5).within_group(hours.desc())
        ) / 2
        stmt = (
            _kpi_counts(group, Case, median, now)
            .where(*_kpi_cases(prefix, start, end))
            .group_by(group)
        )
        return list((await session.execute(stmt)).all())
    # SQLite has no percentile: each group's values ranked by a window, the middle kept.
    measured = Case.handling_hours.is_not(None)
    ranked = (
        select(
            group.label("code"),
            Case.status,
            Case.closed_on_time,
            Case.rework_count,
            Case.deadline_at,
            Case.handling_hours,
            func.row_number()
            .over(partition_by=(group, measured), order_by=Case.handling_hours)
            .label("rank"),
            func.count(Case.handling_hours).over(partition_by=group).label("measured"),
        )
        .where(*_kpi_cases(prefix, start, end))
        .subquery()
    )
    c = ranked.c
    middle = c.rank.in_(((c.measured + 1) // 2, (c.measured + 2) // 2))
    median = func.avg(c.handling_hours).filter(c.handling_hours.is_not(None), middle)
    stmt = _kpi_counts(c.code, c, median, now).group_by(c.code)
    return list((await session.execute(stmt)).all())


def _kpi_counts(code, c, median, now) -> Select:
    closed = c.status == "closed"
    return select(
        code.label("code"),
        func.count().label("cases"),
        func.count().filter(closed).label("closed"),
        func.count().filter(closed, c.closed_on_time.is_(True)).label("on_time"),
        func.count().filter(closed, c.rework_count != 0).label("reworked"),
        func.count().filter(c.status.in_(OPEN_STATUSES), c.deadline_at < now).label("overdue"),
        median.label("median"),
    )


def _epoch_us(session: AsyncSession, column):
    """A time column as whole microseconds since the epoch, computed by the database: no
    datetime to make in Python per value."""
    if session.bind.dialect.name == "postgresql":
        return cast(func.extract("epoch", column) * 1_000_000, BigInteger)  # numeric: exact
    # SQLite keeps the UTC instant as text, 'YYYY-MM-DD HH:MM:SS.ffffff'.
    return cast(func.strftime("%s", column), Integer) * 1_000_000 + cast(
        func.substr(column, 21, 6), Integer
    )


def _spans(session: AsyncSession):
    return (
        Case.id,
        _epoch_us(session, Case.dispatched_at).label("dispatched_us"),
        _epoch_us(session, Case.handled_at).label("handled_us"),
    )


async def unmeasured_cases(
    session: AsyncSession, prefix: str, start: datetime, end: datetime
) -> list[Any]:
    """(id, dispatched, handled) in UTC microseconds of the period's handled cases whose
    handling time is not kept: none, unless rows came by other means than the workflow."""
    stmt = select(*_spans(session)).where(*_kpi_cases(prefix, start, end), text(UNMEASURED))
    return list((await session.execute(stmt)).all())


async def handled_cases_over(session: AsyncSession, since: datetime, until: datetime) -> list[Any]:
    """(id, dispatched, handled) in UTC microseconds of the handled cases whose time from
    dispatch to handling overlaps [since, until)."""
    stmt = select(*_spans(session)).where(Case.dispatched_at < until, Case.handled_at > since)
    return list((await session.execute(stmt)).all())


async def keep_handling_hours(session: AsyncSession, spans: list[Any], hours: list[float]) -> None:
    """Each case's handling time, unless its dispatch or handling moved since ``spans`` was
    read (a step taken meanwhile kept its own)."""
    if not spans:
        return
    dispatched_us, handled_us = (
        _epoch_us(session, Case.dispatched_at),
        _epoch_us(session, Case.handled_at),
    )
    stmt = (
        update(Case.__table__)
        .where(
            Case.__table__.c.id == bindparam("case_id"),
            dispatched_us == bindparam("dispatched"),
            handled_us == bindparam("handled"),
        )
        .values(handling_hours=bindparam("hours"))
    )
    await session.execute(
        stmt,
        [
            {"case_id": s[0], "dispatched": s[1], "handled": s[2], "hours": h}
            for s, h in zip(spans, hours, strict=True)
        ],
    )


async def cells_joined(session: AsyncSession, user_id: str, since, until) -> set[str]:
    """The user's cells they joined in (since, until]: their phone has none of it yet."""
    rows = await session.scalars(
        select(CellMember.cell_code).where(
            CellMember.user_id == user_id,
            CellMember.assigned_at > since,
            CellMember.assigned_at <= until,
        )
    )
    return set(rows.all())


async def cells_left(session: AsyncSession, user_id: str, since, until) -> set[str]:
    """Cells the user was taken off, or that were deleted, in (since, until]."""
    removed = await session.scalars(
        select(CellMemberRemoval.cell_code).where(
            CellMemberRemoval.user_id == user_id,
            CellMemberRemoval.removed_at > since,
            CellMemberRemoval.removed_at <= until,
        )
    )
    deleted = await session.scalars(
        select(Cell.code)
        .join(CellMember, CellMember.cell_code == Cell.code)
        .where(CellMember.user_id == user_id, Cell.deleted_at > since, Cell.deleted_at <= until)
    )
    return set(removed.all()) | set(deleted.all())


async def cells_changed(session: AsyncSession, codes: list[str], since, until) -> list[Cell]:
    stmt = select(Cell).where(Cell.code.in_(codes), Cell.updated_at <= until)
    if since is not None:
        stmt = stmt.where(Cell.updated_at > since)
    return list((await session.scalars(stmt)).all())


async def cases_changed(session: AsyncSession, codes: list[str], since, until) -> list[Case]:
    stmt = select(Case).where(Case.cell_code.in_(codes), Case.updated_at <= until)
    if since is None:
        stmt = stmt.where(Case.status.in_(OPEN_STATUSES))
    else:
        stmt = stmt.where(Case.updated_at > since)
    return list((await session.scalars(stmt.order_by(Case.id))).all())


async def open311_requests(
    session: AsyncSession,
    principal: Principal,
    *,
    service_code: str | None,
    status: str | None,
    start,
    end,
) -> list[Case]:
    """Cases as GeoReport v2 lists them: newest first, at most 100 (the spec's default)."""
    stmt = select(Case).where(cases_in_scope(principal))
    if service_code:
        stmt = stmt.where(Case.category_code == service_code)
    if status == "open":
        stmt = stmt.where(Case.status.in_(OPEN_STATUSES))
    elif status == "closed":
        stmt = stmt.where(Case.status.in_(("closed", "rejected")))
    if start:
        stmt = stmt.where(Case.created_at >= start)
    if end:
        stmt = stmt.where(Case.created_at < end)
    rows, _ = await paginate(session, stmt, [Case.id], PageParams(limit=100), descending=True)
    return rows


async def replace_holidays(session: AsyncSession, days: list[Holiday]) -> None:
    await session.execute(delete(Holiday))
    session.add_all(days)
    await session.flush()


async def claim_case_step(session: AsyncSession, case: Case, now) -> bool:
    """Only one of two racing steps wins: the status must still be what was read."""
    result = await session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status == case.status)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def list_cases(
    session: AsyncSession, principal: Principal, page: PageParams, **filters
) -> tuple[list[Case], str | None]:
    return await paginate(session, case_query(principal, **filters), [Case.id], page)


async def cell_member(session: AsyncSession, cell_code: str | None, user_id: str):
    if not cell_code:
        return None
    return await session.get(CellMember, (cell_code, user_id))


# --- reminders and "my work" ----------------------------------------------------------------


async def cases_to_remind(session: AsyncSession, now: datetime, soon: datetime) -> list[Case]:
    """Open cases whose deadline is near or passed and nobody was told of that deadline."""
    near = and_(
        Case.deadline_at > now,
        Case.deadline_at <= soon,
        or_(Case.due_soon_told_for.is_(None), Case.due_soon_told_for != Case.deadline_at),
    )
    passed = and_(
        Case.deadline_at <= now,
        or_(Case.overdue_told_for.is_(None), Case.overdue_told_for != Case.deadline_at),
    )
    stmt = (
        select(Case)
        .where(Case.status.in_(OPEN_STATUSES), Case.deadline_at.is_not(None), or_(near, passed))
        .order_by(Case.deadline_at, Case.id)
        .limit(500)
    )
    return list((await session.scalars(stmt)).all())


async def claim_reminder(session: AsyncSession, case: Case, which: str) -> bool:
    """Mark the deadline as told; of two replicas sweeping at once, one wins."""
    column = Case.overdue_told_for if which == "overdue" else Case.due_soon_told_for
    result = await session.execute(
        update(Case)
        .where(
            Case.id == case.id,
            Case.deadline_at == case.deadline_at,
            or_(column.is_(None), column != case.deadline_at),
        )
        .values({column.key: case.deadline_at})
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


async def my_cases(
    session: AsyncSession, principal: Principal, *, assigned: bool, limit: int
) -> list[Case]:
    column = Case.assignee_id if assigned else Case.reporter_id
    stmt = (
        select(Case)
        .where(
            cases_in_scope(principal),
            column == principal.user_id,
            Case.status.in_(OPEN_STATUSES),
        )
        .order_by(Case.deadline_at.is_(None), Case.deadline_at, Case.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def due_in_cells(
    session: AsyncSession,
    principal: Principal,
    cells: list[str],
    until: datetime,
    limit: int,
    *,
    statuses: Iterable[str] = OPEN_STATUSES,
) -> list[Case]:
    """Open cases of these cells due by ``until`` at ``statuses``; a handled case is not
    the one who handled it to verify."""
    wanted = [s for s in statuses if s in OPEN_STATUSES]
    if not cells or not wanted:
        return []
    stmt = (
        select(Case)
        .where(
            cases_in_scope(principal),
            Case.cell_code.in_(cells),
            Case.status.in_(wanted),
            Case.deadline_at <= until,
            or_(
                Case.status != "handled",
                Case.handler_id.is_(None),
                Case.handler_id != principal.user_id,
            ),
        )
        .order_by(Case.deadline_at, Case.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def cells_of_member(session: AsyncSession, user_id: str) -> list[str]:
    stmt = select(CellMember.cell_code).where(CellMember.user_id == user_id)
    return sorted((await session.scalars(stmt)).all())


async def visited_households_by_cell(
    session: AsyncSession, cells: list[str], start: datetime, end: datetime
) -> dict[str, int]:
    if not cells:
        return {}
    stmt = (
        select(Visit.cell_code, func.count(func.distinct(Visit.household_id)))
        .where(Visit.cell_code.in_(cells), Visit.visited_at >= start, Visit.visited_at < end)
        .group_by(Visit.cell_code)
    )
    return dict((await session.execute(stmt)).all())


# --- change history: read through the record it belongs to (services.common.history) -------


async def history(
    session: AsyncSession, record_type: str, record_id: str, params: PageParams
) -> tuple[list[Any], str | None]:
    return await history_page(
        session, change_history, record_type=record_type, record_id=record_id, page=params
    )
