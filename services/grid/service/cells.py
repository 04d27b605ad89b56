"""Cells 网格: a valid polygon inside its community, no overlap with a sibling; a change of
cells places the community's buildings again, through an event."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.registry import BuildingRef, CellAssignment, RegistryClient
from services.common.clock import clock
from services.common.errors import (
    Conflict,
    FieldError,
    NotFound,
    Unprocessable,
)
from services.common.events import emit
from services.common.settings import Settings
from services.grid import repository
from services.grid.geometry import CellIndex, GeometryProblem, area_m2, parse_boundary
from services.grid.models import (
    Cell,
    outbox,
)
from services.grid.schemas import (
    CellCreate,
    CellPatch,
)
from services.grid.service import history
from services.grid.service.state import GridState


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
            extra={"overlaps": sorted(overlapping)},  # in code order, whatever the scan read
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
    # From here to the commit no other change of cells runs: the code and the overlap
    # check stay true until this cell is written.
    await repository.lock_cell_map(session)
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
    await history.changed(session, principal, "cell", cell, "created")
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
    before = history.snapshot("cell", cell)
    changes = data.model_dump(exclude_unset=True, exclude={"coord_system"})
    if changes.get("boundary") is not None:
        geometry = _parse(changes.pop("boundary"), data.coord_system)
        await repository.lock_cell_map(session)
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
    await history.changed(session, principal, "cell", cell, "updated", before)
    return cell


async def delete_cell(*, session: AsyncSession, principal: Principal, code: str) -> Cell:
    cell = await get_cell(session=session, principal=principal, code=code)
    cell.deleted_at = clock.now()
    cell.updated_at = cell.deleted_at
    await session.flush()
    await cells_changed(session, cell.community_code)
    await history.changed(session, principal, "cell", cell, "deleted", deleted=True)
    return cell


async def cells_changed(session: AsyncSession, community_code: str) -> None:
    """Record, with the change itself, that the community's buildings must be placed again."""
    await emit(session, outbox, "grid.cells_changed", {"community_code": community_code})


def placements(index: CellIndex, buildings: Sequence[BuildingRef]) -> list[CellAssignment]:
    """The buildings whose cell is not the one their point lies in now, with that cell (or
    none): every point in one vectorised STRtree query."""
    cells = index.locate_many([b.lat for b in buildings], [b.lng for b in buildings])
    return [
        CellAssignment(building_id=b.id, cell_code=cell)
        for b, cell in zip(buildings, cells, strict=True)
        if cell != b.cell_code
    ]


async def reassign_buildings(app, community_code: str) -> int:
    """Every building of the community placed again in the cells as they are now, through
    the registry's API (the buildings are the registry's to write). Run by the consumer of
    ``grid.cells_changed``: a registry that is down fails it, and the event comes again.
    The change may have been made by another process: its commit is read in first."""
    state: GridState = app.state.grid
    index = await state.refreshed(app.state.database)
    registry = RegistryClient(app.state.peers)
    cursor, buildings = None, []
    while True:
        page = await registry.buildings_page(community=community_code, cursor=cursor)
        buildings.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    # In a worker thread: a whole city's buildings would hold the event loop a while.
    assignments = await asyncio.to_thread(placements, index, buildings)
    for i in range(0, len(assignments), 1000):
        await registry.assign_cells(assignments=assignments[i : i + 1000])
    return len(assignments)
