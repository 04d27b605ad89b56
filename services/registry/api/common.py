"""What the registry's route modules share: the router, the permissions routes ask for,
paging, and the answers more than one module gives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, require
from services.common.database import TransactionalRoute
from services.common.geo import CoordSystem, point_out
from services.common.pagination import PageParams, page_params
from services.registry import rules
from services.registry.models import Building, Resident
from services.registry.schemas import BuildingOut, ResidentOut
from services.registry.service import residents as resident_service
from services.registry.service.common import today

Reader = Annotated[Principal, Depends(require("registry:read"))]
Writer = Annotated[Principal, Depends(require("registry:write"))]
Admin = Annotated[Principal, Depends(require("registry:admin"))]
Importer = Annotated[Principal, Depends(require("registry:import"))]
Paging = Annotated[PageParams, Depends(page_params)]


def make_router() -> APIRouter:
    return APIRouter(prefix="/api/v1/registry", tags=["registry"], route_class=TransactionalRoute)


def building_out(building: Building, system: CoordSystem = "wgs84") -> BuildingOut:
    """A building, its stored WGS-84 point given in ``system`` (the answer says which)."""
    lat, lng = point_out(building.lat, building.lng, system)
    return BuildingOut(
        id=building.id,
        community_code=building.community_code,
        name=building.name,
        address=building.address,
        floors=building.floors,
        lat=lat,
        lng=lng,
        coord_system=system,
        cell_code=building.cell_code,
        updated_at=building.updated_at,
    )


async def residents_out(
    session: AsyncSession, principal: Principal, residents: Sequence[Resident]
) -> list[ResidentOut]:
    """Residents as answered, their tags named."""
    names = await resident_service.tag_names(session=session, residents=residents)
    on = today()
    return [resident_out(r, principal, on, names) for r in residents]


async def resident_answer(
    session: AsyncSession, principal: Principal, resident: Resident
) -> ResidentOut:
    return (await residents_out(session, principal, [resident]))[0]


def resident_out(
    resident: Resident, principal: Principal, today: date, tag_names: Mapping[str, str]
) -> ResidentOut:
    age = (
        today.year
        - resident.birth_date.year
        - ((today.month, today.day) < (resident.birth_date.month, resident.birth_date.day))
    )
    minor = age < rules.minor_age()
    return ResidentOut(
        id=resident.id,
        name=resident.name,
        id_number_masked=resident.id_number_masked,
        phone=resident.phone_masked,
        gender=resident.gender,
        # A minor's birth date is for those who may read personal data in full.
        birth_date=resident.birth_date if not minor or principal.has("pii:read") else None,
        age=age,
        minor=minor,
        community_code=resident.community_code,
        household_id=resident.household_id,
        building_id=resident.building_id,
        relation_to_head=resident.relation_to_head,
        residence_type=resident.residence_type,
        tags=[t.tag for t in resident.tag_rows],
        tag_names=[tag_names.get(t.tag, t.tag) for t in resident.tag_rows],
        status=resident.status,
        moved_in_on=resident.moved_in_on,
        moved_out_on=resident.moved_out_on,
        updated_at=resident.updated_at,
    )
