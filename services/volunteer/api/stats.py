"""Figures: the registration rate toward the 10% target, reported party members."""

from __future__ import annotations

from typing import Literal

from fastapi import Query, Request

from services.common.database import SessionDep
from services.common.validators import AreaCodeStr
from services.volunteer.api.common import Reader, make_router
from services.volunteer.schemas import PartyMemberStats, RateOut
from services.volunteer.service import stats

router = make_router()


@router.get("/stats/registration-rate")
async def registration_rate(
    request: Request,
    session: SessionDep,
    principal: Reader,
    area: AreaCodeStr,
    level: Literal["street", "community"] | None = Query(
        default=None,
        description=(
            "`children` are every area at this level under `area`, at any depth, instead of"
            " its direct children: with `community`, a district answers its communities"
            " (the assessment scores ask this way), not its streets"
        ),
    ),
) -> RateOut:
    """The 10% target (seed 000) for the area and each child area (or each at ``level``)."""
    state = request.app.state
    return RateOut(
        **await stats.registration_rate(
            session=session,
            principal=principal,
            peers=state.peers,
            settings=state.settings,
            area=area,
            level=level,
        )
    )


@router.get("/stats/party-members")
async def party_members(
    session: SessionDep, principal: Reader, area: AreaCodeStr
) -> PartyMemberStats:
    return PartyMemberStats(
        **await stats.party_member_stats(session=session, principal=principal, area=area)
    )
