"""Households: a door in a building."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import FieldError, NotFound, Unprocessable
from services.common.pagination import PageParams
from services.registry import counts, repository
from services.registry.models import Household
from services.registry.schemas import HouseholdCreate, HouseholdPatch
from services.registry.service import history
from services.registry.service.common import area_filter


async def create_household(
    *, session: AsyncSession, principal: Principal, data: HouseholdCreate
) -> Household:
    building = await repository.building(session, principal, data.building_id)
    if building is None:
        raise Unprocessable("validation.not_found", errors=[FieldError("building_id", "not_found")])
    household = Household(
        community_code=building.community_code,
        building_id=building.id,
        door_no=data.door_no,
        head_name=data.head_name,
    )
    session.add(household)
    await session.flush()
    await history.changed(session, principal, "household", household, "created")
    await counts.add(session, Counter({counts.household_key(household.community_code): 1}))
    return household


async def get_household(
    *, session: AsyncSession, principal: Principal, household_id: str
) -> Household:
    household = await repository.household(session, principal, household_id)
    if household is None:
        raise NotFound()
    return household


async def list_households(
    *,
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    community: str | None,
    building_id: str | None,
) -> tuple[list[tuple[Household, int]], str | None]:
    """A page of households, each with its number of current residents."""
    rows, cursor = await repository.list_households(
        session, principal, page, community=area_filter(community), building_id=building_id
    )
    sizes = await repository.household_sizes(session, [h.id for h in rows])
    return [(h, sizes.get(h.id, 0)) for h in rows], cursor


async def read_household(
    *, session: AsyncSession, principal: Principal, household_id: str
) -> tuple[Household, int]:
    """A household with its number of current residents."""
    household = await get_household(session=session, principal=principal, household_id=household_id)
    sizes = await repository.household_sizes(session, [household.id])
    return household, sizes.get(household.id, 0)


async def patch_household(
    *, session: AsyncSession, principal: Principal, household_id: str, data: HouseholdPatch
) -> Household:
    household = await get_household(session=session, principal=principal, household_id=household_id)
    before = history.snapshot("household", household)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(household, name, value)
    await session.flush()
    await history.changed(session, principal, "household", household, "updated", before)
    return household
