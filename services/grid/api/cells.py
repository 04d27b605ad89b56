"""Cells, their members, locating a point, and visit coverage."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response

from services.common.auth import Principal, require
from services.common.clock import local_zone
from services.common.database import SessionDep
from services.common.errors import FieldError, NotFound, Unprocessable
from services.common.geo import AnswerCoords, CoordSystem, in_china_box, to_wgs84
from services.common.http import with_etag
from services.common.pagination import Page
from services.common.peers import forward_token
from services.common.periods import period_or_422
from services.common.validators import AreaCodeStr
from services.grid import repository
from services.grid.api.common import Paging, Reader, Writer, cell_out, grid_state, make_router
from services.grid.schemas import CellCreate, CellOut, CellPatch, CoverageOut, LocateOut, MembersIn
from services.grid.service import cells as cell_service
from services.grid.service import members as member_service
from services.grid.service import visits as visit_service

router = make_router()


@router.post("/cells", status_code=201)
async def create_cell(
    body: CellCreate,
    request: Request,
    session: SessionDep,
    principal: Writer,
) -> CellOut:
    """A valid polygon that overlaps no other cell; the buildings inside are then placed in
    it (in the registry, through its API)."""
    state = request.app.state
    cell = await cell_service.create_cell(
        session=session,
        principal=principal,
        settings=state.settings,
        peers=state.peers,
        token=forward_token(request),
        data=body,
    )
    state.grid.cells_changed_with(session, cell)
    return cell_out(cell, [])


@router.get("/cells")
async def list_cells(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = None,
    coord_system: AnswerCoords = "wgs84",
) -> Page[CellOut]:
    cells, cursor = await repository.list_cells(session, principal, page, community=community)
    members = await repository.members(session, [c.code for c in cells])
    return Page(
        items=[cell_out(c, members[c.code], coord_system) for c in cells], next_cursor=cursor
    )


@router.get("/cells/{code}")
async def get_cell(
    code: str,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Reader,
    coord_system: AnswerCoords = "wgs84",
) -> CellOut:
    cell = await cell_service.get_cell(session=session, principal=principal, code=code)
    members = await repository.members(session, [code])
    return with_etag(request, response, cell_out(cell, members[code], coord_system))


@router.patch("/cells/{code}")
async def patch_cell(
    code: str,
    body: CellPatch,
    request: Request,
    session: SessionDep,
    principal: Writer,
) -> CellOut:
    cell = await cell_service.patch_cell(
        session=session,
        principal=principal,
        settings=request.app.state.settings,
        code=code,
        data=body,
    )
    request.app.state.grid.cells_changed_with(session, cell)
    members = await repository.members(session, [code])
    return cell_out(cell, members[code])


@router.delete("/cells/{code}", status_code=204)
async def delete_cell(
    code: str, request: Request, session: SessionDep, principal: Writer
) -> Response:
    cell = await cell_service.delete_cell(session=session, principal=principal, code=code)
    request.app.state.grid.cells_changed_with(session, cell)
    return Response(status_code=204)


@router.put("/cells/{code}/members")
async def set_members(
    code: str,
    body: MembersIn,
    request: Request,
    session: SessionDep,
    principal: Writer,
) -> CellOut:
    """Assign the grid workers and the grid leader; each worker's scope becomes their cells."""
    state = request.app.state
    cell, affected = await member_service.set_members(
        session=session,
        principal=principal,
        peers=state.peers,
        token=forward_token(request),
        code=code,
        data=body,
    )
    members = await repository.members(session, [code])
    return cell_out(cell, members[code])


@router.get("/locate")
async def locate(
    request: Request,
    principal: Annotated[Principal, Depends(require("grid:read"))],
    lat: float = Query(ge=-90, le=90),
    lng: float = Query(ge=-180, le=180),
    coord_system: CoordSystem = "wgs84",
) -> LocateOut:
    """The cell containing a point. On an edge shared by two cells, the smaller code wins."""
    if not in_china_box(lat, lng):
        raise Unprocessable("validation.outside_china", errors=[FieldError("lat", "outside_china")])
    state = grid_state(request)
    index = await state.current(request.app.state.database)
    code = index.locate(*to_wgs84(lat, lng, coord_system))
    if code is None or not principal.reaches(code):
        # A cell outside the caller's scope is not named: as far as they know, none is here.
        raise NotFound("cell.none_here")
    cell = index.cell(code)
    return LocateOut(code=code, name=cell.name, community_code=cell.community_code)


@router.get("/cells/{code}/coverage")
async def cell_coverage(
    code: str,
    request: Request,
    session: SessionDep,
    principal: Reader,
    period: str = Query(max_length=10),
) -> CoverageOut:
    """Households visited in the period ÷ households in the cell."""
    parsed = period_or_422(period)
    cell = await cell_service.get_cell(session=session, principal=principal, code=code)
    return CoverageOut(
        **await visit_service.coverage(
            session=session,
            peers=request.app.state.peers,
            token=forward_token(request),
            cell=cell,
            period=parsed,
            zone=local_zone(),
        )
    )
