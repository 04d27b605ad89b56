"""The grid's business rules: cells and their geometry, members (whose scope becomes their
cells), household visits, cases through their workflow with working-time deadlines, KPIs,
and the phone's offline sync."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import statistics
import time as monotonic
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.gateway import GatewayClient
from services.common.clients.registry import CellAssignment, RegistryClient
from services.common.clock import clock, local_zone
from services.common.errors import (
    AppError,
    Conflict,
    FieldError,
    Forbidden,
    Gone,
    NotFound,
    Unprocessable,
)
from services.common.events import emit
from services.common.geo import distance_m as great_circle
from services.common.geo import in_china_box, to_wgs84
from services.common.ids import new_id
from services.common.periods import Period
from services.common.settings import Settings, get_settings
from services.grid import repository
from services.grid.calendar import WorkCalendar
from services.grid.geometry import CellIndex, GeometryProblem, area_m2, distance_m, parse_boundary
from services.grid.models import (
    Case,
    CaseCategory,
    CaseEvent,
    Cell,
    CellMember,
    CellMemberRemoval,
    Visit,
    outbox,
)
from services.grid.schemas import (
    CaseCreate,
    CellCreate,
    CellPatch,
    MembersIn,
    TransitionIn,
    VisitCreate,
)
from services.grid.workflow import OPEN_STATUSES, STEP_OF_STATUS, allowed_actions, next_status

log = logging.getLogger("gongjian.grid")

INDEX_TTL_S = 5.0  # another process's cell changes reach this one's index within this
# Sync windows overlap by this much so that a late commit is never skipped (not a standard:
# a property of the mechanism).
SYNC_SKEW = timedelta(seconds=5)


# --- the cell index ------------------------------------------------------------------------


class GridState:
    """Per process: the locate index and the working calendar, rebuilt when stale."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.index = CellIndex.build([])
        self.names: dict[str, tuple[str, str]] = {}
        self.built_at = -1e9
        self.dirty = True
        self.lock = asyncio.Lock()
        self.calendar: WorkCalendar | None = None

    async def current(self, database) -> CellIndex:
        if self.dirty or monotonic.monotonic() - self.built_at > INDEX_TTL_S:
            async with self.lock:
                if self.dirty or monotonic.monotonic() - self.built_at > INDEX_TTL_S:
                    await self.rebuild(database)
        return self.index

    async def rebuild(self, database) -> None:
        self.dirty = False
        async with database.transaction(write=False) as session:
            cells = await repository.live_cells(session)
            holidays = await repository.holidays(session)
        from shapely.geometry import shape

        self.index = CellIndex.build((c.code, shape(c.boundary)) for c in cells)
        self.names = {c.code: (c.name, c.community_code) for c in cells}
        self.calendar = WorkCalendar(
            zone=local_zone(),
            holidays=frozenset(h.day for h in holidays if not h.working),
            workdays=frozenset(h.day for h in holidays if h.working),
        )
        self.built_at = monotonic.monotonic()


def _boundary_error(problem: GeometryProblem) -> Unprocessable:
    return Unprocessable(
        f"validation.{problem.code}",
        errors=[FieldError("boundary", problem.code, {"detail": problem.detail})],
    )


def _parse(boundary: dict, system: str):
    try:
        return parse_boundary(boundary, system)  # type: ignore[arg-type]
    except GeometryProblem as problem:
        raise _boundary_error(problem) from None


def _bbox(geometry) -> dict[str, float]:
    min_lng, min_lat, max_lng, max_lat = geometry.bounds
    return {"min_lat": min_lat, "min_lng": min_lng, "max_lat": max_lat, "max_lng": max_lng}


async def _check_overlap(session, geometry, code: str, tolerance_m2: float) -> None:
    """No two live cells may overlap beyond a small tolerance (digitising slop)."""
    from shapely.geometry import shape

    overlapping = []
    for other in await repository.live_cells_near(session, geometry.bounds):
        if other.code == code:
            continue
        shared = geometry.intersection(shape(other.boundary))
        if not shared.is_empty and area_m2(shared) > tolerance_m2:
            overlapping.append(other.code)
    if overlapping:
        raise Conflict(
            "cell.overlaps",
            errors=[FieldError("boundary", "cell_overlaps")],
            extra={"overlaps": overlapping},
        )


def _no_such_community() -> Unprocessable:
    return Unprocessable(
        "validation.area_not_found", errors=[FieldError("community_code", "area_not_found")]
    )


async def _community_exists(peers, token: str | None, code: str) -> None:
    area = await RegistryClient(peers, token=token).area(
        code=code, errors={404: _no_such_community, 403: _no_such_community}
    )
    if area.level != "community":
        raise _no_such_community()


async def create_cell(
    *,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    peers,
    token,
    data: CellCreate,
) -> Cell:
    if not principal.reaches(data.community_code):
        raise NotFound()
    await _community_exists(peers, token, data.community_code)
    geometry = _parse(data.boundary, data.coord_system)
    digits = settings.grid_cell_seq_digits
    if data.code:
        if not data.code.startswith(data.community_code) or len(data.code) != 12 + digits:
            raise Unprocessable(
                "validation.cell_code_invalid",
                errors=[FieldError("code", "cell_code_invalid", {"digits": digits})],
            )
        code = data.code
        if await repository.cell_any(session, code) is not None:
            raise Conflict("cell.exists", errors=[FieldError("code", "cell_exists")])
    else:
        last = await repository.last_cell_code(session, data.community_code)
        sequence = int(last[12:]) + 1 if last else 1
        code = f"{data.community_code}{sequence:0{digits}d}"
    await _check_overlap(session, geometry, code, settings.grid_overlap_tolerance_m2)
    from shapely.geometry import mapping

    cell = Cell(
        code=code,
        **_bbox(geometry),
        community_code=data.community_code,
        name=data.name,
        kind=data.kind,
        dedicated_to=data.dedicated_to,
        household_target=data.household_target,
        responsible=data.responsible,
        boundary=mapping(geometry),
        valid_from=data.valid_from,
        valid_to=data.valid_to,
    )
    session.add(cell)
    await session.flush()
    await cells_changed(session, cell.community_code)
    return cell


async def get_cell(*, session: AsyncSession, principal: Principal, code: str) -> Cell:
    cell = await repository.cell(session, principal, code)
    if cell is None:
        raise NotFound()
    return cell


async def patch_cell(
    *, session: AsyncSession, principal: Principal, settings: Settings, code: str, data: CellPatch
) -> Cell:
    cell = await get_cell(session=session, principal=principal, code=code)
    changes = data.model_dump(exclude_unset=True, exclude={"coord_system"})
    if changes.get("boundary") is not None:
        geometry = _parse(changes.pop("boundary"), data.coord_system)
        await _check_overlap(session, geometry, cell.code, settings.grid_overlap_tolerance_m2)
        from shapely.geometry import mapping

        cell.boundary = mapping(geometry)
        for name, value in _bbox(geometry).items():
            setattr(cell, name, value)
        await cells_changed(session, cell.community_code)
    changes.pop("boundary", None)
    for name, value in changes.items():
        setattr(cell, name, value)
    cell.updated_at = clock.now()
    await session.flush()
    return cell


async def delete_cell(*, session: AsyncSession, principal: Principal, code: str) -> Cell:
    cell = await get_cell(session=session, principal=principal, code=code)
    cell.deleted_at = clock.now()
    cell.updated_at = cell.deleted_at
    await session.flush()
    await cells_changed(session, cell.community_code)
    return cell


async def cells_changed(session: AsyncSession, community_code: str) -> None:
    """Record, with the change itself, that the community's buildings must be placed again."""
    await emit(session, outbox, "grid.cells_changed", {"community_code": community_code})


async def reassign_buildings(app, community_code: str) -> int:
    """Every building of the community placed again in the cells as they are now, through
    the registry's API (the buildings are the registry's to write). Run by the consumer of
    ``grid.cells_changed``: a registry that is down fails it, and the event comes again."""
    state: GridState = app.state.grid
    state.dirty = True
    index = await state.current(app.state.database)
    registry = RegistryClient(app.state.peers)
    cursor, assignments = None, []
    while True:
        page = await registry.buildings_page(community=community_code, cursor=cursor)
        for b in page.items:
            cell = index.locate(b.lat, b.lng) if b.lat is not None else None
            if cell != b.cell_code:
                assignments.append(CellAssignment(building_id=b.id, cell_code=cell))
        cursor = page.next_cursor
        if not cursor:
            break
    for i in range(0, len(assignments), 1000):
        await registry.assign_cells(assignments=assignments[i : i + 1000])
    return len(assignments)


# --- members -------------------------------------------------------------------------------


async def set_members(
    *, session: AsyncSession, principal: Principal, peers, token, code: str, data: MembersIn
) -> tuple[Cell, list[str]]:
    """Replace a cell's workers and leader; returns the users whose cells changed."""
    cell = await get_cell(session=session, principal=principal, code=code)
    wanted = list(dict.fromkeys([*data.workers, *([data.leader] if data.leader else [])]))
    names = {}
    gateway = GatewayClient(peers, token=token)
    for user_id in wanted:

        def not_a_grid_worker(user_id: str = user_id) -> Unprocessable:
            return Unprocessable(
                "validation.not_a_grid_worker",
                errors=[FieldError("workers", "not_a_grid_worker", {"user": user_id})],
            )

        user = await gateway.account(user_id=user_id, errors={404: not_a_grid_worker})
        if "grid_worker" not in user.roles:
            raise not_a_grid_worker()
        names[user_id] = user.display_name or user.username or ""
    # Members who stay keep their row, so that ``assigned_at`` says when each joined: the
    # sync sends a newly joined cell whole, and a left one as a tombstone.
    now = clock.now()
    current = {m.user_id: m for m in (await repository.members(session, [code]))[code]}
    before = set(current)
    for user_id, member in current.items():
        if user_id not in wanted:
            await session.delete(member)
            session.add(CellMemberRemoval(cell_code=code, user_id=user_id, removed_at=now))
    for user_id in wanted:
        role = "leader" if user_id == data.leader else "worker"
        member = current.get(user_id)
        if member is None:
            session.add(
                CellMember(
                    cell_code=code,
                    user_id=user_id,
                    role=role,
                    display_name=names[user_id],
                    assigned_at=now,
                )
            )
        else:
            member.role, member.display_name = role, names[user_id]
    cell.updated_at = now
    await session.flush()
    affected = sorted(before | set(wanted))
    await members_changed(session, affected)
    return cell, affected


async def members_changed(session: AsyncSession, user_ids: list[str]) -> None:
    """Record, with the change itself, each affected worker's cells as they now are: the
    gateway, which keeps the accounts, makes them the worker's scope."""
    users = [
        {"user_id": user_id, "cells": await repository.cells_of_user(session, user_id)}
        for user_id in user_ids
    ]
    await emit(session, outbox, "grid.members_changed", {"users": users})


# --- visits --------------------------------------------------------------------------------


async def create_visit(
    *,
    session: AsyncSession,
    principal: Principal,
    state: GridState,
    database,
    peers,
    token,
    data: VisitCreate,
) -> Visit:
    if data.id and await repository.visit(session, data.id) is not None:
        raise Conflict("visit.exists")
    unknown = set(data.findings) - await repository.finding_codes(session)
    if unknown:
        raise Unprocessable(
            "validation.finding_unknown",
            errors=[
                FieldError("findings", "finding_unknown", {"tags": ", ".join(sorted(unknown))})
            ],
        )
    registry = RegistryClient(peers, token=token)

    def no_household() -> Unprocessable:
        return Unprocessable(
            "validation.not_found", errors=[FieldError("household_id", "not_found")]
        )

    household = await registry.household(
        household_id=data.household_id, errors={404: no_household, 403: no_household}
    )
    cell_code = None
    if household.building_id:
        building = await registry.building(
            building_id=household.building_id, errors={404: no_household, 403: no_household}
        )
        cell_code = building.cell_code
    inside, distance = None, None
    if data.lat is not None and data.lng is not None and cell_code:
        lat, lng = to_wgs84(data.lat, data.lng, data.coord_system)
        geometry = (await state.current(database)).geometry(cell_code)
        if geometry is not None:
            distance = round(distance_m(geometry, lat, lng), 1)
            inside = distance == 0.0
    visit = Visit(
        id=data.id or new_id(),
        cell_code=cell_code,
        community_code=household.community_code,
        household_id=data.household_id,
        building_id=household.building_id,
        worker_id=principal.user_id,
        visited_at=data.visited_at,
        findings=sorted(set(data.findings)),
        note=data.note,
        photos=data.photos,
        inside_cell=inside,
        distance_m=distance,
    )
    session.add(visit)
    await session.flush()
    return visit


async def coverage(
    *, session: AsyncSession, peers, token, cell: Cell, period: Period, zone: ZoneInfo
) -> dict:
    counts = await RegistryClient(peers, token=token).cell_counts(cells=[cell.code])
    households = next((c.households for c in counts if c.cell_code == cell.code), 0)
    start, end = period.bounds(zone)
    visited = await repository.visited_households(session, cell.code, start, end)
    return {
        "cell_code": cell.code,
        "period": period.label,
        "households": households,
        "visited": visited,
        "coverage": round(visited / households, 4) if households else None,
    }


# --- cases ---------------------------------------------------------------------------------


def step_deadline(
    calendar: WorkCalendar, category: CaseCategory, step: str | None, start: datetime, priority: str
) -> datetime | None:
    if step is None:
        return None
    amount = getattr(category, f"{step}_within")
    if priority == "urgent" and category.priority != "urgent":
        amount = amount / 2  # an urgent report of an ordinary kind: half the time
    if category.deadline_unit == "days":
        return calendar.add_working_days(start, max(1, round(amount)))
    return calendar.add_working_hours(start, amount)


async def report_case(
    *, session: AsyncSession, principal: Principal, state: GridState, database, data: CaseCreate
) -> tuple[Case, list[tuple[Case, float]]]:
    if data.id and await session.get(Case, data.id) is not None:
        raise Conflict("case.exists")
    category = await repository.category(session, data.category_code)
    if category is None or not category.active:
        raise Unprocessable(
            "validation.category_unknown", errors=[FieldError("category_code", "category_unknown")]
        )
    if not in_china_box(data.lat, data.lng):
        raise Unprocessable("validation.outside_china", errors=[FieldError("lat", "outside_china")])
    lat, lng = to_wgs84(data.lat, data.lng, data.coord_system)
    index = await state.current(database)
    cell_code = index.locate(lat, lng)
    if cell_code is None:
        raise Unprocessable("case.outside_grid", errors=[FieldError("lat", "outside_grid")])
    if principal.has_role("resident"):
        source = "resident"
    elif data.source:
        source = data.source
    else:
        source = "grid_worker"
    now = clock.now()
    priority = data.priority or category.priority
    case = Case(
        id=data.id or new_id(),
        category_code=category.code,
        description=data.description,
        address=data.address,
        lat=lat,
        lng=lng,
        cell_code=cell_code,
        community_code=state.names.get(cell_code, ("", cell_code[:12]))[1],
        source=source,
        reporter_id=principal.user_id,
        photos=data.photos,
        priority=priority,
        status="reported",
        step="accept",
        deadline_at=step_deadline(state.calendar, category, "accept", now, priority),
        created_at=now,
        updated_at=now,
    )
    duplicates = await possible_duplicates(session, state.settings, category.code, lat, lng, now)
    session.add(case)
    session.add(
        CaseEvent(
            case_id=case.id,
            action="report",
            from_status=None,
            to_status="reported",
            actor_id=principal.user_id,
            actor_roles=list(principal.roles),
            data={"source": source},
            at=now,
        )
    )
    await session.flush()
    return case, duplicates


async def possible_duplicates(
    session, settings: Settings, category: str, lat: float, lng: float, now: datetime
) -> list[tuple[Case, float]]:
    """Open cases of the same category nearby and recent (50 m, 72 h by default): pointed
    out, never blocking (two neighbours may report the same burst pipe)."""
    radius = settings.grid_duplicate_radius_m
    degrees = radius / 111_000 * 1.2
    out = []
    for other in await repository.nearby_open_cases(
        session,
        category,
        lat,
        lng,
        now - timedelta(hours=settings.grid_duplicate_window_h),
        degrees,
    ):
        d = great_circle(lat, lng, other.lat, other.lng)
        if d <= radius:
            out.append((other, round(d, 1)))
    return sorted(out, key=lambda x: x[1])


def _may(principal: Principal, action: str, case: Case) -> bool:
    if action in ("accept", "reject", "dispatch", "close", "approve_extension", "reject_extension"):
        return principal.has("grid:dispatch")
    if action == "handle":
        return principal.has("grid:handle") or (
            principal.unit_id is not None and principal.unit_id == case.dispatched_unit_id
        )
    if action in ("verify", "return"):
        return principal.has("grid:verify")
    if action == "request_extension":
        return (
            principal.has("grid:handle")
            or principal.has("grid:dispatch")
            or (principal.unit_id is not None and principal.unit_id == case.dispatched_unit_id)
        )
    if action == "evaluate":
        return case.reporter_id == principal.user_id
    return False


async def transition(
    *,
    session: AsyncSession,
    principal: Principal,
    state: GridState,
    database,
    case_id: str,
    data: TransitionIn,
) -> Case:
    case = await repository.case(session, principal, case_id)
    if case is None:
        raise NotFound()
    action = data.action
    pending = case.extension_hours is not None
    allowed = allowed_actions(case.status, extension_pending=pending)
    if action not in allowed:
        raise Conflict(
            "case.illegal_transition",
            extra={"allowed": allowed, "current_status": case.status},
            action=action,
            state=case.status,
        )
    if not _may(principal, action, case):
        raise Forbidden()
    # Only one of two racing steps wins: the status must still be what we read.
    result = await session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status == case.status)
        .values(updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict(
            "case.illegal_transition",
            extra={"allowed": [], "current_status": "changed"},
            action=data.action,
            state=case.status,
        )
    await state.current(database)
    category = await repository.category(session, case.category_code)
    now = clock.now()
    old = case.status
    new = next_status(old, action)
    record: dict[str, Any] = {}
    if action == "verify" and data.passed is False:
        action, new = "return", "dispatched"  # a failed check is rework
    if action == "dispatch":
        if not (data.dispatched_to or data.unit_id):
            raise Unprocessable(
                "validation.missing", errors=[FieldError("dispatched_to", "missing")]
            )
        case.dispatched_to = data.dispatched_to or f"unit:{data.unit_id}"
        case.dispatched_unit_id = data.unit_id
        case.dispatched_at = now
        record = {"dispatched_to": case.dispatched_to}
    elif action == "handle":
        if not data.photos:
            raise Unprocessable("validation.missing", errors=[FieldError("photos", "missing")])
        case.handler_id = principal.user_id
        case.handled_at = now
        case.photos = [*case.photos, *data.photos]
        record = {"photos": data.photos}
    elif action == "verify":
        if case.handler_id == principal.user_id:
            raise Forbidden("case.verifier_is_handler")
    elif action == "return":
        if old == "handled" and case.handler_id == principal.user_id:
            raise Forbidden("case.verifier_is_handler")
        case.rework_count += 1
    elif action == "close":
        case.closed_at = now
        case.closed_on_time = case.handled_at is not None and (
            case.handle_deadline_at is None or case.handled_at <= case.handle_deadline_at
        )
    elif action == "request_extension":
        if not data.hours:
            raise Unprocessable("validation.missing", errors=[FieldError("hours", "missing")])
        case.extension_hours = data.hours
        case.extension_requested_by = principal.user_id
        record = {"hours": data.hours}
    elif action in ("approve_extension", "reject_extension"):
        if case.extension_requested_by == principal.user_id:
            raise Forbidden("case.approver_is_requester")
        if action == "approve_extension":
            extended = state.calendar.add_working_hours(
                case.deadline_at or now, case.extension_hours
            )
            case.deadline_at = extended
            case.handle_deadline_at = extended
        record = {"hours": case.extension_hours}
        case.extension_hours = None
        case.extension_requested_by = None
    elif action == "evaluate":
        if data.rating is None:
            raise Unprocessable("validation.missing", errors=[FieldError("rating", "missing")])
        case.rating = data.rating
        record = {"rating": data.rating}
    if new != old:
        case.status = new
        case.step = STEP_OF_STATUS.get(new)
        case.deadline_at = step_deadline(state.calendar, category, case.step, now, case.priority)
        if case.step == "handle":
            case.handle_deadline_at = case.deadline_at
    case.updated_at = now
    session.add(
        CaseEvent(
            case_id=case.id,
            action=action,
            from_status=old,
            to_status=case.status,
            actor_id=principal.user_id,
            actor_roles=list(principal.roles),
            note=data.note,
            data=record,
            at=now,
        )
    )
    await session.flush()
    return case


def kpis(cases: list[Case], group_len: int, now: datetime, calendar: WorkCalendar) -> list[dict]:
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault((case.cell_code or "")[:group_len], []).append(case)
    rows = []
    for code in sorted(groups):
        items = groups[code]
        closed = [c for c in items if c.status == "closed"]
        on_time = [c for c in closed if c.closed_on_time]
        handling = [
            calendar.working_hours_between(c.dispatched_at, c.handled_at)
            for c in items
            if c.dispatched_at and c.handled_at
        ]
        reworked = [c for c in closed if c.rework_count]
        overdue = [
            c for c in items if c.status in OPEN_STATUSES and c.deadline_at and c.deadline_at < now
        ]
        rows.append(
            {
                "code": code,
                "cases": len(items),
                "closed": len(closed),
                "on_time_close_rate": round(len(on_time) / len(closed), 4) if closed else None,
                "median_handling_hours": round(statistics.median(handling), 2)
                if handling
                else None,
                "rework_rate": round(len(reworked) / len(closed), 4) if closed else None,
                "overdue": len(overdue),
            }
        )
    return rows


# --- offline sync --------------------------------------------------------------------------


def encode_sync_cursor(until: datetime) -> str:
    raw = json.dumps({"v": 1, "t": until.isoformat()})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_sync_cursor(cursor: str, now: datetime, ttl: timedelta) -> datetime:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        since = datetime.fromisoformat(raw["t"])
    except (ValueError, KeyError, TypeError):
        raise AppError("pagination.cursor_invalid", 400) from None
    if now - since > ttl:
        raise Gone("sync.cursor_expired")
    return since
