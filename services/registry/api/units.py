"""Resident units (驻区单位): credit codes checked, facilities listed, contacts masked. A
unit contact reads and edits its own unit."""

from __future__ import annotations

from fastapi import Query, Request, Response

from services.common.auth import PrincipalDep
from services.common.database import SessionDep
from services.common.http import with_etag
from services.common.pagination import Page
from services.common.validators import AreaCodeStr
from services.registry.api.common import Paging, Writer, make_router
from services.registry.models import Unit
from services.registry.schemas import FacilityOut, UnitCreate, UnitOut, UnitPatch
from services.registry.service import units as service

router = make_router()


def unit_out(unit: Unit) -> UnitOut:
    return UnitOut(
        id=unit.id,
        name=unit.name,
        uscc=unit.uscc,
        category=unit.category,
        community_code=unit.community_code,
        address=unit.address,
        contact_name=unit.contact_name,
        contact_phone=unit.contact_phone_masked,
        party_org_name=unit.party_org_name,
        party_member_count=unit.party_member_count,
        facilities=[FacilityOut.model_validate(f, from_attributes=True) for f in unit.facilities],
        warnings=service.unit_warnings(unit),
        updated_at=unit.updated_at,
    )


@router.post("/units", status_code=201)
async def create_unit(
    body: UnitCreate, request: Request, session: SessionDep, principal: Writer
) -> UnitOut:
    unit = await service.create_unit(
        session=session, principal=principal, cipher=request.app.state.cipher, data=body
    )
    return unit_out(unit)


@router.get("/units")
async def list_units(
    session: SessionDep,
    principal: PrincipalDep,
    page: Paging,
    community: AreaCodeStr | None = None,
    q: str | None = Query(default=None, max_length=100),
    category: str | None = Query(default=None, max_length=32),
) -> Page[UnitOut]:
    rows, cursor = await service.list_units(
        session=session,
        principal=principal,
        page=page,
        community=community,
        q=q,
        category=category,
    )
    return Page(items=[unit_out(u) for u in rows], next_cursor=cursor)


@router.get("/units/{unit_id}")
async def get_unit(
    unit_id: str, request: Request, response: Response, session: SessionDep, principal: PrincipalDep
) -> UnitOut:
    unit = await service.get_unit(session=session, principal=principal, unit_id=unit_id)
    return with_etag(request, response, unit_out(unit))


@router.patch("/units/{unit_id}")
async def patch_unit(
    unit_id: str, body: UnitPatch, request: Request, session: SessionDep, principal: PrincipalDep
) -> UnitOut:
    unit = await service.patch_unit(
        session=session,
        principal=principal,
        cipher=request.app.state.cipher,
        unit_id=unit_id,
        data=body,
    )
    return unit_out(unit)
