"""Buildings, with their coordinates and the grid cell that contains them."""

from __future__ import annotations

from fastapi import Query, Request, Response

from services.common.database import SessionDep
from services.common.geo import AnswerCoords
from services.common.http import with_etag
from services.common.pagination import Page
from services.common.validators import AreaCodeStr
from services.registry.api.common import Paging, Reader, Writer, building_out, make_router
from services.registry.schemas import BuildingCreate, BuildingOut, BuildingPatch
from services.registry.service import buildings as service

router = make_router()


@router.post("/buildings", status_code=201)
async def create_building(
    body: BuildingCreate,
    request: Request,
    session: SessionDep,
    principal: Writer,
    coord_system: AnswerCoords = "wgs84",
) -> BuildingOut:
    """With coordinates, the building is placed in the grid cell that contains it."""
    building = await service.create_building(
        session=session, principal=principal, data=body, peers=request.app.state.peers
    )
    return building_out(building, coord_system)


@router.get("/buildings")
async def list_buildings(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = None,
    cell: str | None = Query(default=None, max_length=32),
    q: str | None = Query(default=None, max_length=100, description="name prefix"),
    coord_system: AnswerCoords = "wgs84",
) -> Page[BuildingOut]:
    rows, cursor = await service.list_buildings(
        session=session, principal=principal, page=page, community=community, cell=cell, q=q
    )
    return Page(items=[building_out(b, coord_system) for b in rows], next_cursor=cursor)


@router.get("/buildings/{building_id}")
async def get_building(
    building_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Reader,
    coord_system: AnswerCoords = "wgs84",
) -> BuildingOut:
    building = await service.get_building(
        session=session, principal=principal, building_id=building_id
    )
    return with_etag(request, response, building_out(building, coord_system))


@router.patch("/buildings/{building_id}")
async def patch_building(
    building_id: str,
    body: BuildingPatch,
    request: Request,
    session: SessionDep,
    principal: Writer,
    coord_system: AnswerCoords = "wgs84",
) -> BuildingOut:
    building = await service.patch_building(
        session=session,
        principal=principal,
        building_id=building_id,
        data=body,
        peers=request.app.state.peers,
    )
    return building_out(building, coord_system)


@router.delete("/buildings/{building_id}", status_code=204)
async def delete_building(building_id: str, session: SessionDep, principal: Writer) -> Response:
    await service.delete_building(session=session, principal=principal, building_id=building_id)
    return Response(status_code=204)
