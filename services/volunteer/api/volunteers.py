"""Registration, review, withdrawal, the party member's report."""

from __future__ import annotations

from fastapi import Query, Request

from services.common.auth import PrincipalDep
from services.common.database import SessionDep
from services.common.pagination import Page
from services.common.validators import AreaCodeStr
from services.volunteer.api.common import Manager, Paging, Reader, Self, make_router, volunteer_out
from services.volunteer.schemas import ReviewIn, VolunteerCreate, VolunteerOut
from services.volunteer.service import registration, teams

router = make_router()


@router.post("/volunteers", status_code=201)
async def register(
    body: VolunteerCreate, request: Request, session: SessionDep, principal: Self
) -> VolunteerOut:
    """Real-name registration. A match with a current resident of that community (name and
    ID number) is active at once; otherwise it waits for the community worker's review."""
    state = request.app.state
    volunteer = await registration.register(
        session=session,
        principal=principal,
        cipher=state.cipher,
        peers=state.peers,
        settings=state.settings,
        data=body,
    )
    return volunteer_out(volunteer, teams=await teams.teams_of(session, volunteer))


@router.get("/volunteers/me")
async def me(session: SessionDep, principal: PrincipalDep) -> VolunteerOut:
    """The caller's own volunteer record, with the teams they are in."""
    volunteer = await registration.volunteer_for(session, principal)
    return volunteer_out(volunteer, teams=await teams.teams_of(session, volunteer))


@router.post("/volunteers/me/withdraw")
async def withdraw(session: SessionDep, principal: Self) -> VolunteerOut:
    volunteer = await registration.withdraw(session=session, principal=principal)
    return volunteer_out(volunteer, teams=await teams.teams_of(session, volunteer))


@router.post("/volunteers/me/party-report")
async def party_report(session: SessionDep, principal: Self) -> VolunteerOut:
    """An in-service party member reports to the community where they live (在职党员报到)."""
    volunteer = await registration.party_report(session=session, principal=principal)
    return volunteer_out(volunteer, teams=await teams.teams_of(session, volunteer))


@router.get("/volunteers")
async def list_volunteers(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = None,
    status: str | None = Query(default=None, pattern="^(active|pending|rejected|withdrawn)$"),
) -> Page[VolunteerOut]:
    rows, cursor = await registration.list_volunteers(
        session=session, principal=principal, page=page, community=community, status=status
    )
    return Page(items=[volunteer_out(v) for v in rows], next_cursor=cursor)


@router.post("/volunteers/{volunteer_id}/approve")
async def approve(
    volunteer_id: str, session: SessionDep, principal: Manager, body: ReviewIn | None = None
) -> VolunteerOut:
    return volunteer_out(
        await registration.review(
            session=session,
            principal=principal,
            volunteer_id=volunteer_id,
            approve=True,
            note=body.text if body else None,
        )
    )


@router.post("/volunteers/{volunteer_id}/reject")
async def reject(
    volunteer_id: str, session: SessionDep, principal: Manager, body: ReviewIn | None = None
) -> VolunteerOut:
    """The reason given goes to the resident with the outcome."""
    return volunteer_out(
        await registration.review(
            session=session,
            principal=principal,
            volunteer_id=volunteer_id,
            approve=False,
            note=body.text if body else None,
        )
    )
