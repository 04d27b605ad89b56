"""Households: a door in a building."""

from __future__ import annotations

from fastapi import Query, Request, Response

from services.common.database import SessionDep
from services.common.http import with_etag
from services.common.pagination import Page
from services.common.validators import AreaCodeStr
from services.registry.api.common import Paging, Reader, Writer, make_router
from services.registry.models import Household
from services.registry.schemas import HouseholdCreate, HouseholdOut, HouseholdPatch
from services.registry.service import households as service

router = make_router()


def household_out(household: Household, members: int | None = None) -> HouseholdOut:
    out = HouseholdOut.model_validate(household, from_attributes=True)
    return out if members is None else out.model_copy(update={"members": members})


@router.post("/households", status_code=201)
async def create_household(
    body: HouseholdCreate, session: SessionDep, principal: Writer
) -> HouseholdOut:
    return household_out(
        await service.create_household(session=session, principal=principal, data=body)
    )


@router.get("/households")
async def list_households(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = None,
    building_id: str | None = Query(default=None, max_length=36),
) -> Page[HouseholdOut]:
    rows, cursor = await service.list_households(
        session=session,
        principal=principal,
        page=page,
        community=community,
        building_id=building_id,
    )
    return Page(items=[household_out(h, members) for h, members in rows], next_cursor=cursor)


@router.get("/households/{household_id}")
async def get_household(
    household_id: str, request: Request, response: Response, session: SessionDep, principal: Reader
) -> HouseholdOut:
    household, members = await service.read_household(
        session=session, principal=principal, household_id=household_id
    )
    return with_etag(request, response, household_out(household, members))


@router.patch("/households/{household_id}")
async def patch_household(
    household_id: str, body: HouseholdPatch, session: SessionDep, principal: Writer
) -> HouseholdOut:
    household = await service.patch_household(
        session=session, principal=principal, household_id=household_id, data=body
    )
    return household_out(household)
