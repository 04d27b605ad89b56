"""Service teams and their members."""

from __future__ import annotations

from fastapi import Request

from services.common.auth import PrincipalDep
from services.common.database import SessionDep, request_database
from services.common.pagination import Page
from services.common.validators import AreaCodeStr
from services.volunteer.api.common import Manager, Paging, Self, make_router, teams_out
from services.volunteer.schemas import TeamCreate, TeamMembers, TeamOut
from services.volunteer.service import teams

router = make_router()


@router.post("/teams", status_code=201)
async def create_team(body: TeamCreate, session: SessionDep, principal: Manager) -> TeamOut:
    team = await teams.create_team(session=session, principal=principal, data=body)
    return (await teams_out(session, [team]))[0]


@router.get("/teams")
async def list_teams(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    page: Paging,
    community: AreaCodeStr | None = None,
) -> Page[TeamOut]:
    """Staff: the teams within their scope; a volunteer: the teams of their community. A
    community's party-member team is among them from the start."""
    await teams.ensure_party_teams(
        database=request_database(request),
        peers=request.app.state.peers,
        principal=principal,
        community=community,
    )
    rows, cursor = await teams.list_teams(
        session=session, principal=principal, page=page, community=community
    )
    return Page(items=await teams_out(session, rows), next_cursor=cursor)


@router.put("/teams/{team_id}/members")
async def set_members(
    team_id: str, body: TeamMembers, session: SessionDep, principal: Manager
) -> TeamOut:
    team = await teams.set_team_members(
        session=session,
        principal=principal,
        team_id=team_id,
        ids=body.volunteer_ids,
        leader=body.leader_id,
    )
    return (await teams_out(session, [team]))[0]


@router.post("/teams/{team_id}/join")
async def join_team(team_id: str, session: SessionDep, principal: Self) -> TeamOut:
    """The calling volunteer joins a team of their community that is open to them."""
    team = await teams.join_team(session=session, principal=principal, team_id=team_id)
    return (await teams_out(session, [team]))[0]


@router.post("/teams/{team_id}/leave")
async def leave_team(team_id: str, session: SessionDep, principal: Self) -> TeamOut:
    team = await teams.leave_team(session=session, principal=principal, team_id=team_id)
    return (await teams_out(session, [team]))[0]
