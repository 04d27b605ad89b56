"""Figures over any subtree of the area tree."""

from __future__ import annotations

from typing import Literal

from fastapi import Query

from services.common.database import SessionDep
from services.registry.api.common import Admin, Reader, make_router
from services.registry.schemas import AreaStats, ChildrenStats
from services.registry.service import stats as service

router = make_router()


@router.get("/areas/{code}/stats")
async def area_stats(code: str, session: SessionDep, principal: Reader) -> AreaStats:
    """Residents by residence type, households, party members and tags, summed over the
    whole subtree."""
    return AreaStats(**await service.area_stats(session=session, principal=principal, code=code))


@router.get("/areas/{code}/children/stats")
async def children_stats(
    code: str,
    session: SessionDep,
    principal: Reader,
    level: Literal["city", "district", "street", "community"] | None = Query(
        default=None, description="every area at this level below, instead of the children"
    ),
) -> ChildrenStats:
    """The area's figures and each child's, in one call (the volunteer rate and the
    assessment use it as their denominator)."""
    return ChildrenStats(
        **await service.children_stats(session=session, principal=principal, code=code, level=level)
    )


@router.post("/areas/{code}/recount")
async def recount_area(code: str, session: SessionDep, principal: Admin) -> AreaStats:
    """Rebuilds the running counts under an area from the residents, tags and households
    (a repair tool: the counts are kept in step by every write)."""
    return AreaStats(**await service.recount(session=session, principal=principal, code=code))
