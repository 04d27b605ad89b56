"""Figures: the registration rate toward the 10% target, reported party members (counted,
and listed for their community)."""

from __future__ import annotations

from typing import Literal

from fastapi import Query, Request

from services.common.database import SessionDep
from services.common.pagination import Page
from services.common.validators import AreaCodeStr
from services.volunteer.api.common import FigureReader, Paging, make_router
from services.volunteer.schemas import PartyMemberStats, PartyReportOut, RateOut
from services.volunteer.service import stats

router = make_router()


@router.get("/stats/registration-rate")
async def registration_rate(
    request: Request,
    session: SessionDep,
    principal: FigureReader,
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
    session: SessionDep, principal: FigureReader, area: AreaCodeStr
) -> PartyMemberStats:
    return PartyMemberStats(
        **await stats.party_member_stats(session=session, principal=principal, area=area)
    )


@router.get("/party-reports")
async def party_reports(
    request: Request,
    session: SessionDep,
    principal: FigureReader,
    page: Paging,
    community: AreaCodeStr | None = None,
) -> Page[PartyReportOut]:
    """In-service party members who reported to a community within the caller's scope
    (在职党员报到), latest report first: name, employer unit, date, hours served there, and
    ``verified`` false for a volunteer not matched to a registry resident."""
    items, cursor = await stats.party_reports(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        page=page,
        community=community,
    )
    return Page(items=[PartyReportOut(**i) for i in items], next_cursor=cursor)
