"""The area tree: areas down to community, each community with its profile."""

from __future__ import annotations

from typing import Literal

from fastapi import Query, Request, Response

from services.common.database import SessionDep
from services.common.http import with_etag
from services.common.pagination import Page
from services.common.validators import AreaCodeStr
from services.registry.api.common import Paging, Reader, Writer, make_router
from services.registry.models import Area
from services.registry.schemas import AreaCreate, AreaOut, AreaPatch
from services.registry.service import areas as service

router = make_router()


def area_out(area: Area) -> AreaOut:
    return AreaOut.model_validate(area, from_attributes=True)


@router.post("/areas", status_code=201)
async def create_area(body: AreaCreate, session: SessionDep, principal: Writer) -> AreaOut:
    return area_out(await service.create_area(session=session, principal=principal, data=body))


@router.get("/areas")
async def list_areas(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    parent: AreaCodeStr | None = None,
    level: Literal["province", "city", "district", "street", "community"] | None = None,
    under: AreaCodeStr | None = Query(default=None, description="every area below this one"),
) -> Page[AreaOut]:
    areas, cursor = await service.list_areas(
        session=session, principal=principal, page=page, parent=parent, level=level, under=under
    )
    return Page(items=[area_out(a) for a in areas], next_cursor=cursor)


@router.get("/areas/{code}")
async def get_area(
    code: str, request: Request, response: Response, session: SessionDep, principal: Reader
) -> AreaOut:
    area = await service.get_area(session=session, principal=principal, code=code)
    return with_etag(request, response, area_out(area))


@router.patch("/areas/{code}")
async def patch_area(code: str, body: AreaPatch, session: SessionDep, principal: Writer) -> AreaOut:
    return area_out(
        await service.patch_area(session=session, principal=principal, code=code, data=body)
    )


@router.get("/areas/{code}/children")
async def area_children(
    code: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[AreaOut]:
    areas, cursor = await service.list_children(
        session=session, principal=principal, code=code, page=page
    )
    return Page(items=[area_out(a) for a in areas], next_cursor=cursor)
