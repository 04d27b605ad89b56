"""What the grid service asks of the registry: the cell of each building, counts per cell
(visit coverage), and what changed in a grid worker's cells (offline sync)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from services.common.auth import Principal, require
from services.common.database import SessionDep
from services.common.geo import AnswerCoords
from services.common.schemas import SentTimestamp
from services.registry.api.common import Reader, building_out, make_router, residents_out
from services.registry.schemas import (
    CellAssignmentResult,
    CellAssignments,
    CellCounts,
    RegistrySyncOut,
    SyncDeleted,
    SyncHousehold,
    SyncResident,
)
from services.registry.service import sync as service

router = make_router()

CellAssigner = Annotated[Principal, Depends(require("registry:assign_cells"))]
MAX_CELLS = 1000
# Cell codes are ASCII digits: the list stays a 20 KB query, within what the HTTP server and
# a reverse proxy accept in a request line.
CellList = Annotated[
    str,
    Query(
        min_length=1,
        max_length=20_000,
        pattern=r"^[0-9,]+$",
        description="comma-separated cell codes",
    ),
]


def cell_codes(cells: str) -> list[str]:
    return [c for c in cells.split(",") if c][:MAX_CELLS]


@router.post("/buildings/cell-assignments")
async def assign_cells(
    body: CellAssignments, session: SessionDep, principal: CellAssigner
) -> CellAssignmentResult:
    """The grid service tells which cell each building lies in (buildings are the
    registry's; only it writes them)."""
    return CellAssignmentResult(
        updated=await service.assign_cells(
            session=session, principal=principal, assignments=body.assignments
        )
    )


@router.get("/cell-counts")
async def cell_counts(
    session: SessionDep,
    principal: Reader,
    cells: CellList,
) -> list[CellCounts]:
    """Buildings, households and current residents per grid cell (visit coverage), for the
    cells within the caller's scope; the others are left out."""
    counts = await service.cell_counts(
        session=session, principal=principal, cells=cell_codes(cells)
    )
    return [CellCounts(cell_code=c, **n) for c, n in counts.items()]


@router.get("/sync")
async def registry_sync(
    session: SessionDep,
    principal: Reader,
    cells: CellList,
    since: SentTimestamp | None = None,
    until: SentTimestamp = Query(),
    coord_system: AnswerCoords = "wgs84",
) -> RegistrySyncOut:
    """What a grid worker's phone holds of its cells, changed in (since, until]: the grid
    service's ``/sync`` asks this with the worker's own token (cells outside its scope are
    left out)."""
    changed = await service.changed_in_cells(
        session=session, principal=principal, cells=cell_codes(cells), since=since, until=until
    )
    residents = await residents_out(session, principal, changed.residents)
    return RegistrySyncOut(
        buildings=[building_out(b, coord_system) for b in changed.buildings],
        households=[
            SyncHousehold.model_validate(h, from_attributes=True) for h in changed.households
        ],
        residents=[
            SyncResident(**r.model_dump(include=set(SyncResident.model_fields))) for r in residents
        ],
        deleted=SyncDeleted(buildings=changed.deleted_buildings, residents=changed.moved_out),
    )
