"""Every query the registry makes. Scope is applied here, from the principal, once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    column,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.history import deleted_in as history_deleted_in
from services.common.history import history_page
from services.common.pagination import PageParams, paginate
from services.common.scope import any_prefix_clause, prefix_clause, scope_clause
from services.registry.models import (
    Area,
    Building,
    BuildingCellMove,
    Household,
    ImportError_,
    ImportJob,
    PiiAuditEntry,
    PopulationCount,
    Resident,
    ResidentTag,
    TagDefinition,
    Unit,
    change_history,
)

AREA_CODE_LEN = 12


def _split_scope(principal: Principal) -> tuple[list[str], list[str]]:
    """Area prefixes (≤ 12 digits) and grid-cell codes (longer) of the caller's scope."""
    areas = [p for p in principal.scope if len(p) <= AREA_CODE_LEN]
    cells = [p for p in principal.scope if len(p) > AREA_CODE_LEN]
    return areas, cells


def community_scope(column, principal: Principal, building_column=None):
    """A row keyed by community is in scope when its community is, or — for a grid worker
    whose scope is cells — when its building lies in one of those cells."""
    if principal.unrestricted:
        return scope_clause(column, principal)
    areas, cells = _split_scope(principal)
    clauses = [any_prefix_clause(column, areas)] if areas else []
    if cells and building_column is not None:
        in_cells = select(Building.id).where(any_prefix_clause(Building.cell_code, cells))
        clauses.append(building_column.in_(in_cells))
    if not clauses:
        return any_prefix_clause(column, [])
    return clauses[0] if len(clauses) == 1 else or_(*clauses)


# --- areas ---------------------------------------------------------------------------------


async def area(session: AsyncSession, code: str) -> Area | None:
    """Any area, in scope or not: for the checks a write makes (does the parent exist, is
    the code taken), which decide themselves what the caller may learn."""
    return await session.get(Area, code)


def _area_visible(principal: Principal):
    """An area is visible when it is inside the scope or is an ancestor of it (a community
    worker sees the street and district its community belongs to)."""
    if principal.unrestricted:
        return scope_clause(Area.code, principal)
    areas, cells = _split_scope(principal)
    prefixes = areas + [c[:AREA_CODE_LEN] for c in cells]
    clauses = [any_prefix_clause(Area.code, prefixes)]
    ancestors = {_ancestor for p in prefixes for _ancestor in _ancestor_codes(p)}
    if ancestors:
        clauses.append(Area.code.in_(sorted(ancestors)))
    return or_(*clauses)


def _ancestor_codes(prefix: str) -> list[str]:
    return [prefix[:cut].ljust(AREA_CODE_LEN, "0") for cut in (2, 4, 6, 9) if cut < len(prefix)]


async def list_areas(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    parent: str | None,
    level: str | None,
    under: str | None,
) -> tuple[list[Area], str | None]:
    stmt = select(Area).where(_area_visible(principal))
    if parent:
        stmt = stmt.where(Area.parent_code == parent)
    if level:
        stmt = stmt.where(Area.level == level)
    if under:
        stmt = stmt.where(prefix_clause(Area.code, under))
    return await paginate(session, stmt, [Area.code], params)


async def area_visible(session: AsyncSession, principal: Principal, code: str) -> Area | None:
    return await session.scalar(select(Area).where(Area.code == code, _area_visible(principal)))


async def child_areas(session: AsyncSession, principal: Principal, code: str) -> list[Area]:
    stmt = (
        select(Area).where(Area.parent_code == code, _area_visible(principal)).order_by(Area.code)
    )
    return list((await session.scalars(stmt)).all())


async def areas_at_level_under(
    session: AsyncSession, principal: Principal, prefix: str, level: str
) -> list[Area]:
    stmt = (
        select(Area)
        .where(prefix_clause(Area.code, prefix), Area.level == level, _area_visible(principal))
        .order_by(Area.code)
    )
    return list((await session.scalars(stmt)).all())


# --- statistics ----------------------------------------------------------------------------


async def population_stats(
    session: AsyncSession, prefix: str, group_len: int, minors_born_after: date
) -> dict[str, dict[str, Any]]:
    """Figures under ``prefix``, grouped by the first ``group_len`` characters of the
    community code: sums over the running counts, a few rows per community however many
    live there. Minors are the birth years after the one the line falls in, summed, and the
    residents born after the line within that year, read off the birth-date index (at most
    one year's births)."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"by_residence_type": {}, "households": 0, "tags": {}, "minors": 0}
    )
    group = func.substr(PopulationCount.community_code, 1, group_len).label("g")
    line_year = minors_born_after.year
    # Every birth year after the line's is minors: one sum, not one row per year.
    value = case((PopulationCount.dimension == "born", ""), else_=PopulationCount.value)
    rows = await session.execute(
        select(group, PopulationCount.dimension, value, func.sum(PopulationCount.n))
        .where(
            prefix_clause(PopulationCount.community_code, prefix),
            or_(PopulationCount.dimension != "born", PopulationCount.value > str(line_year)),
        )
        .group_by(group, PopulationCount.dimension, value)
    )
    for g, dimension, value, n in rows:
        n = int(n or 0)
        if dimension == "residence":
            out[g]["by_residence_type"][value] = n
        elif dimension == "tag":
            if n:
                out[g]["tags"][value] = n
        elif dimension == "born":
            out[g]["minors"] += n
        elif dimension == "households":
            out[g]["households"] = n

    mgroup = func.substr(Resident.community_code, 1, group_len).label("g")
    rows = await session.execute(
        select(mgroup, func.count())
        .where(
            # Written as a literal so that the partial index on current residents applies.
            Resident.status == literal_column("'current'"),
            Resident.birth_date > minors_born_after,
            Resident.birth_date < date(line_year + 1, 1, 1),
            prefix_clause(Resident.community_code, prefix),
        )
        .group_by(mgroup)
        # SQLite's planner took the (status, community) index here and read every resident
        # of the subtree for their birth dates: a second for a district of a million.
        .with_hint(Resident, "INDEXED BY ix_residents_current_birth", "sqlite")
    )
    for g, n in rows:
        out[g]["minors"] += n
    return out


# --- buildings and households --------------------------------------------------------------


async def building(
    session: AsyncSession, principal: Principal, building_id: str
) -> Building | None:
    return await session.scalar(
        select(Building).where(
            Building.id == building_id,
            Building.deleted_at.is_(None),
            community_scope(Building.community_code, principal, Building.id),
        )
    )


async def list_buildings(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    community: str | None,
    cell: str | None,
    q: str | None,
) -> tuple[list[Building], str | None]:
    stmt = select(Building).where(
        Building.deleted_at.is_(None),
        community_scope(Building.community_code, principal, Building.id),
    )
    if community:
        stmt = stmt.where(prefix_clause(Building.community_code, community))
    if cell:
        stmt = stmt.where(Building.cell_code == cell)
    if q:
        stmt = stmt.where(Building.name.startswith(q, autoescape=True))
    return await paginate(session, stmt, [Building.id], params)


async def building_cells(
    session: AsyncSession, ids: list[str]
) -> dict[str, tuple[str | None, str]]:
    """The cell and community of each of these buildings (those that exist), in one query."""
    rows = await session.execute(
        select(Building.id, Building.cell_code, Building.community_code).where(Building.id.in_(ids))
    )
    return {bid: (cell, community) for bid, cell, community in rows.all()}


async def set_building_cells(session: AsyncSession, changes: list[dict[str, Any]]) -> None:
    """changes: ``{"b_id", "cell", "now"}`` each, written in one executemany."""
    table = Building.__table__
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(cell_code=bindparam("cell"), updated_at=bindparam("now")),
        changes,
    )


async def add_cell_moves(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(insert(BuildingCellMove.__table__), rows)


async def household(
    session: AsyncSession, principal: Principal, household_id: str
) -> Household | None:
    return await session.scalar(
        select(Household).where(
            Household.id == household_id,
            community_scope(Household.community_code, principal, Household.building_id),
        )
    )


async def household_labels(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    """Household id → its building's name and door number (``6号楼 2单元301``), as a
    history names it; the door number alone for a household without a building."""
    rows = await session.execute(
        select(Household.id, Building.name, Household.door_no)
        .outerjoin(Building, Building.id == Household.building_id)
        .where(Household.id.in_(ids))
    )
    return {hid: f"{building} {door}" if building else door for hid, building, door in rows}


async def list_households(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    community: str | None,
    building_id: str | None,
) -> tuple[list[Household], str | None]:
    stmt = select(Household).where(
        community_scope(Household.community_code, principal, Household.building_id)
    )
    if community:
        stmt = stmt.where(prefix_clause(Household.community_code, community))
    if building_id:
        stmt = stmt.where(Household.building_id == building_id)
    return await paginate(session, stmt, [Household.id], params)


async def household_sizes(session: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Resident.household_id, func.count())
        .where(Resident.household_id.in_(ids), Resident.status == "current")
        .group_by(Resident.household_id)
    )
    return dict(rows.all())


# --- residents -----------------------------------------------------------------------------


async def resident(
    session: AsyncSession, principal: Principal, resident_id: str
) -> Resident | None:
    return await session.scalar(
        select(Resident).where(
            Resident.id == resident_id,
            community_scope(Resident.community_code, principal, Resident.building_id),
        )
    )


async def current_resident_by_index(session: AsyncSession, id_index: str) -> Resident | None:
    """Wherever they are registered, in scope or not: one person is current in one place.
    The service says where only to a caller who reaches that place."""
    return await session.scalar(
        select(Resident).where(Resident.id_number_index == id_index, Resident.status == "current")
    )


# SQLite's FTS5 table of the residents' names (tokenize='trigram', migration 5d1e8b3f0a6c),
# its rowid the resident's: not in the metadata, it is the migration's to create.
_resident_names = table("resident_names", column("rowid"), column("name"))
_residents_rowid = literal_column("residents.rowid")
# A trigram index finds parts of at least this many characters.
TRIGRAM = 3
# Whether each SQLite database (by URL) has the table, found out once per process: the
# migration decides it, and a SQLite without the trigram tokenizer cannot read the table.
_names_indexed: dict[str, bool] = {}


async def resident_names_indexed(session: AsyncSession) -> bool:
    """Whether a name search may ask SQLite's trigram table (False on PostgreSQL, whose
    trigram index the planner uses for the ``LIKE`` by itself)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    key = str(bind.url)
    known = _names_indexed.get(key)
    if known is None:
        version, present = (
            await session.execute(
                text(
                    "SELECT sqlite_version(), EXISTS (SELECT 1 FROM sqlite_master"
                    " WHERE type = 'table' AND name = 'resident_names')"
                )
            )
        ).one()
        trigram = tuple(int(p) for p in version.split(".")[:3]) >= (3, 34, 0)
        known = _names_indexed[key] = bool(present) and trigram
    return known


def name_search(q: str, *, names_indexed: bool) -> list[ColumnElement[bool]]:
    """Any part of the name: 博然 finds 黄博然, and % or _ are characters like any other.
    The ``LIKE`` decides; on PostgreSQL the pg_trgm index serves it for three characters or
    more. On SQLite the trigram table narrows it first to the rows holding the part as a
    phrase (a superset: it folds case beyond ASCII); one or two characters have no
    trigram, and a community's names are scanned cheaply (the scope narrows them)."""
    clauses: list[ColumnElement[bool]] = [Resident.name.contains(q, autoescape=True)]
    if names_indexed and len(q) >= TRIGRAM:
        phrase = '"' + q.replace('"', '""') + '"'  # a phrase: no query syntax, any character
        clauses.insert(
            0,
            _residents_rowid.in_(
                select(_resident_names.c.rowid).where(_resident_names.c.name.match(phrase))
            ),
        )
    return clauses


def resident_query(
    principal: Principal,
    *,
    community: str | None = None,
    q: str | None = None,
    phone_index: str | None = None,
    id_number_index: str | None = None,
    tag: str | None = None,
    building_id: str | None = None,
    household_id: str | None = None,
    residence_type: str | None = None,
    status: str | None = "current",
    names_indexed: bool = False,
) -> Select:
    """``names_indexed``: the database has SQLite's trigram table of names
    (``resident_names_indexed``)."""
    stmt = select(Resident).where(
        community_scope(Resident.community_code, principal, Resident.building_id)
    )
    if status:
        stmt = stmt.where(Resident.status == status)
    if community:
        stmt = stmt.where(prefix_clause(Resident.community_code, community))
    if q:
        stmt = stmt.where(*name_search(q, names_indexed=names_indexed))
    if phone_index:
        stmt = stmt.where(Resident.phone_index == phone_index)
    if id_number_index:
        stmt = stmt.where(Resident.id_number_index == id_number_index)
    if building_id:
        stmt = stmt.where(Resident.building_id == building_id)
    if household_id:
        stmt = stmt.where(Resident.household_id == household_id)
    if residence_type:
        stmt = stmt.where(Resident.residence_type == residence_type)
    if tag:
        stmt = stmt.where(
            Resident.id.in_(select(ResidentTag.resident_id).where(ResidentTag.tag == tag))
        )
    return stmt


async def list_residents(
    session: AsyncSession, stmt: Select, params: PageParams
) -> tuple[list[Resident], str | None]:
    # A roster reads community by community; the index (status, community_code, id) serves
    # this order directly on both databases.
    return await paginate(session, stmt, [Resident.community_code, Resident.id], params)


async def retire_tags(session: AsyncSession, resident_id: str) -> None:
    """A resident's tags stop counting (they moved out); the rows stay, as history."""
    await session.execute(
        update(ResidentTag).where(ResidentTag.resident_id == resident_id).values(current=False)
    )


async def tag(session: AsyncSession, code: str) -> TagDefinition | None:
    return await session.get(TagDefinition, code)


async def tag_codes(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(TagDefinition.code))).all())


async def tag_names(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    rows = await session.execute(
        select(TagDefinition.code, TagDefinition.name).where(TagDefinition.code.in_(codes))
    )
    return {code: name for code, name in rows}


async def list_tags(session: AsyncSession) -> list[TagDefinition]:
    return list((await session.scalars(select(TagDefinition).order_by(TagDefinition.code))).all())


# --- units ---------------------------------------------------------------------------------


async def unit(session: AsyncSession, principal: Principal, unit_id: str) -> Unit | None:
    stmt = select(Unit).where(Unit.id == unit_id)
    if principal.has_role("unit_contact") and not principal.unrestricted:
        stmt = stmt.where(Unit.id == principal.unit_id)
    else:
        stmt = stmt.where(scope_clause(Unit.community_code, principal))
    return await session.scalar(stmt)


async def unit_by_uscc(session: AsyncSession, uscc: str) -> Unit | None:
    """Any unit with this credit code, in scope or not: a code is registered once."""
    return await session.scalar(select(Unit).where(Unit.uscc == uscc))


async def list_units(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    *,
    community: str | None,
    q: str | None,
    category: str | None,
) -> tuple[list[Unit], str | None]:
    stmt = select(Unit)
    if principal.has_role("unit_contact") and not principal.unrestricted:
        stmt = stmt.where(Unit.id == principal.unit_id)
    else:
        stmt = stmt.where(scope_clause(Unit.community_code, principal))
    if community:
        stmt = stmt.where(prefix_clause(Unit.community_code, community))
    if q:
        stmt = stmt.where(Unit.name.contains(q, autoescape=True))
    if category:
        stmt = stmt.where(Unit.category == category)
    return await paginate(session, stmt, [Unit.id], params)


# --- audit and imports ---------------------------------------------------------------------


async def list_audit(
    session: AsyncSession, principal: Principal, params: PageParams, *, subject_id: str | None
) -> tuple[list[PiiAuditEntry], str | None]:
    stmt = select(PiiAuditEntry).where(scope_clause(PiiAuditEntry.community_code, principal))
    if subject_id:
        stmt = stmt.where(PiiAuditEntry.subject_id == subject_id)
    return await paginate(session, stmt, [PiiAuditEntry.id], params, descending=True)


async def import_job(session: AsyncSession, principal: Principal, job_id: str) -> ImportJob | None:
    job = await session.get(ImportJob, job_id)
    if job is None:
        return None
    # Its author's, and theirs whose scope holds all of the author's: a job of an author
    # without any scope is its author's alone (``all`` of nothing would be everyone's).
    mine = job.created_by == principal.user_id or principal.unrestricted
    above = bool(job.scope) and all(principal.reaches(code) for code in job.scope)
    return job if mine or above else None


async def import_job_by_id(session: AsyncSession, job_id: str) -> ImportJob | None:
    """A job by its id alone, for the import's own bookkeeping (not for answers)."""
    return await session.get(ImportJob, job_id)


async def import_errors(
    session: AsyncSession, job_id: str, limit: int | None
) -> list[ImportError_]:
    stmt = (
        select(ImportError_)
        .where(ImportError_.job_id == job_id)
        .order_by(ImportError_.row, ImportError_.id)
    )
    if limit:
        stmt = stmt.limit(limit)
    return list((await session.scalars(stmt)).all())


async def update_import_job(session: AsyncSession, job_id: str, **values: Any) -> None:
    await session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))


async def add_created_buildings(session: AsyncSession, job_id: str, buildings: list[dict]) -> None:
    """Buildings a job created, added to those listed on it (one writer per job: its
    lease)."""
    listed = await session.scalar(select(ImportJob.created_buildings).where(ImportJob.id == job_id))
    await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .values(created_buildings=[*(listed or []), *buildings])
    )


async def located_buildings(session: AsyncSession, ids: list[str]) -> set[str]:
    """Which of these buildings have a location now (a job's answer reports it live, so a
    building given its coordinates since stops being warned about)."""
    if not ids:
        return set()
    found = await session.scalars(
        select(Building.id).where(
            Building.id.in_(ids), Building.lat.is_not(None), Building.lng.is_not(None)
        )
    )
    return set(found.all())


def _claimable(now: datetime) -> ColumnElement[bool]:
    """Queued, or running on a lease that has run out (or that predates leases)."""
    return or_(
        ImportJob.status == "queued",
        and_(
            ImportJob.status == "running",
            or_(ImportJob.lease_until.is_(None), ImportJob.lease_until < now),
        ),
    )


async def claim_import_job(
    session: AsyncSession, job_id: str, *, replica: str, now: datetime, lease_until: datetime
) -> ImportJob | None:
    """The job, now running on ``replica``'s lease; None when another replica holds a live
    lease on it or it has finished. One conditional UPDATE: of replicas claiming at once,
    the first wins and the others find the condition false once it has committed."""
    claimed = await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, _claimable(now))
        .values(status="running", claimed_by=replica, lease_until=lease_until)
    )
    if claimed.rowcount != 1:
        return None
    return await session.get(ImportJob, job_id, populate_existing=True)


async def renew_import_lease(
    session: AsyncSession, job_id: str, *, replica: str, lease_until: datetime
) -> bool:
    """False when the job is no longer ``replica``'s to run."""
    renewed = await session.execute(
        update(ImportJob)
        .where(
            ImportJob.id == job_id,
            ImportJob.claimed_by == replica,
            ImportJob.status == "running",
        )
        .values(lease_until=lease_until)
    )
    return renewed.rowcount == 1


async def finish_import_job(
    session: AsyncSession, job_id: str, *, replica: str, **values: Any
) -> bool:
    """The outcome, written only by the replica that holds the job."""
    done = await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.claimed_by == replica)
        .values(lease_until=None, **values)
    )
    return done.rowcount == 1


async def release_import_jobs(session: AsyncSession, replica: str) -> None:
    """At shutdown: ``replica``'s running jobs queued again, for whichever replica starts
    next (re-importing changes nothing that was already written)."""
    await session.execute(
        update(ImportJob)
        .where(ImportJob.claimed_by == replica, ImportJob.status == "running")
        .values(status="queued", claimed_by=None, lease_until=None)
    )


async def claimable_imports(session: AsyncSession, now: datetime) -> list[str]:
    """Jobs no live replica holds: queued, or left running by a replica whose lease ran
    out."""
    rows = await session.scalars(select(ImportJob.id).where(_claimable(now)))
    return list(rows.all())


async def community_codes(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(Area.code).where(Area.level == "community"))).all())


# --- for the grid service ------------------------------------------------------------------


async def cell_counts(
    session: AsyncSession, principal: Principal, cells: list[str]
) -> dict[str, dict[str, int]]:
    """Buildings, households and current residents of each cell within the caller's scope
    (a cell code extends its community's, so the prefix rule reaches cells); a cell outside
    it is left out of the answer, as if it did not exist."""
    cells = [c for c in cells if principal.reaches(c)]
    out = {c: {"buildings": 0, "households": 0, "residents": 0} for c in cells}
    if not cells:
        return out
    live = and_(Building.deleted_at.is_(None), scope_clause(Building.cell_code, principal))
    for cell, n in await session.execute(
        select(Building.cell_code, func.count())
        .where(live, Building.cell_code.in_(cells))
        .group_by(Building.cell_code)
    ):
        out[cell]["buildings"] = n
    for cell, n in await session.execute(
        select(Building.cell_code, func.count())
        .join(Household, Household.building_id == Building.id)
        .where(live, Building.cell_code.in_(cells))
        .group_by(Building.cell_code)
    ):
        out[cell]["households"] = n
    for cell, n in await session.execute(
        select(Building.cell_code, func.count())
        .join(Resident, Resident.building_id == Building.id)
        .where(live, Building.cell_code.in_(cells), Resident.status == "current")
        .group_by(Building.cell_code)
    ):
        out[cell]["residents"] = n
    return out


class ChangedInCells(NamedTuple):
    buildings: list[Building]
    deleted_buildings: list[str]
    households: list[Household]
    residents: list[Resident]
    moved_out: list[str]


async def changed_in_cells(
    session: AsyncSession, principal: Principal, cells: list[str], since, until
) -> ChangedInCells:
    """Buildings, households and residents of ``cells`` changed in (since, until]; with a
    null ``since``, everything current. A building that moved into the cells in the window
    comes whole (households and residents though they did not change); one that moved out,
    or was deleted, is a tombstone. Cells outside the caller's scope are left out."""
    cells = [c for c in cells if principal.reaches(c)]
    if not cells:
        return ChangedInCells([], [], [], [], [])

    def window(column):
        clauses = [column <= until]
        if since is not None:
            clauses.append(column > since)
        return clauses

    building_ids = select(Building.id).where(Building.cell_code.in_(cells))
    buildings = list(
        (
            await session.scalars(
                select(Building)
                .where(
                    Building.cell_code.in_(cells),
                    Building.deleted_at.is_(None),
                    *window(Building.updated_at),
                )
                .order_by(Building.id)
            )
        ).all()
    )
    deleted_buildings: list[str] = []
    arrived: list[str] = []
    if since is not None:
        deleted_buildings = list(
            (
                await session.scalars(
                    select(Building.id).where(
                        Building.cell_code.in_(cells),
                        Building.deleted_at.is_not(None),
                        *window(Building.deleted_at),
                    )
                )
            ).all()
        )
        moves = (
            await session.execute(
                select(BuildingCellMove.building_id, Building.cell_code)
                .join(Building, Building.id == BuildingCellMove.building_id)
                .where(
                    or_(BuildingCellMove.from_cell.in_(cells), BuildingCellMove.to_cell.in_(cells)),
                    *window(BuildingCellMove.moved_at),
                )
            )
        ).all()
        inside = set(cells)
        arrived = sorted({b for b, now_in in moves if now_in in inside})
        deleted_buildings += sorted({b for b, now_in in moves if now_in not in inside})

    def changed_or_arrived(column, building_column):
        if not arrived:
            return window(column)
        return [or_(and_(*window(column)), building_column.in_(arrived))]

    households = list(
        (
            await session.scalars(
                select(Household)
                .where(
                    Household.building_id.in_(building_ids),
                    *changed_or_arrived(Household.updated_at, Household.building_id),
                )
                .order_by(Household.id)
            )
        ).all()
    )
    residents = list(
        (
            await session.scalars(
                select(Resident)
                .where(
                    Resident.building_id.in_(building_ids),
                    Resident.status == "current",
                    community_scope(Resident.community_code, principal, Resident.building_id),
                    *changed_or_arrived(Resident.updated_at, Resident.building_id),
                )
                .order_by(Resident.id)
            )
        ).all()
    )
    gone = []
    if since is not None:
        gone = list(
            (
                await session.scalars(
                    select(Resident.id).where(
                        Resident.building_id.in_(building_ids),
                        Resident.status != "current",
                        *window(Resident.updated_at),
                    )
                )
            ).all()
        )
    return ChangedInCells(buildings, deleted_buildings, households, residents, gone)


# --- change history: read through the record it belongs to (services.common.history) -------


async def history(
    session: AsyncSession, record_type: str, record_id: str, params: PageParams
) -> tuple[list[Any], str | None]:
    return await history_page(
        session, change_history, record_type=record_type, record_id=record_id, page=params
    )


async def deleted_in(session: AsyncSession, record_type: str, record_id: str) -> str | None:
    return await history_deleted_in(
        session, change_history, record_type=record_type, record_id=record_id
    )
