"""Service teams 服务队, the party-member team among them."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.registry import RegistryClient
from services.common.database import Database
from services.common.errors import (
    AppError,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Unprocessable,
)
from services.common.ids import new_id
from services.common.pagination import PageParams
from services.common.validators import significant_prefix
from services.volunteer import repository
from services.volunteer.models import Team, TeamMember, Volunteer
from services.volunteer.names import VOLUNTEER_STATUS_NAMES
from services.volunteer.schemas import TeamCreate
from services.volunteer.service import history

log = logging.getLogger("gongjian.volunteer")


# The team every community has for its in-service party members (seed 003).
PARTY_TEAM_NAME = "党员志愿服务队"


async def create_team(*, session: AsyncSession, principal: Principal, data: TeamCreate) -> Team:
    if not principal.reaches(data.community_code):
        raise NotFound()
    team = Team(
        id=new_id(),
        community_code=data.community_code,
        name=data.name,
        kind=data.kind,
        leader_id=data.leader_id,
        joining=data.joining,
    )
    try:
        async with session.begin_nested():
            session.add(team)
            await session.flush()
    except IntegrityError:  # the community's party-member team exists (one per community)
        raise Conflict("team.party_team_exists") from None
    await history.changed(
        session, principal, "team", team, "created", **await history.roster(session, team)
    )
    return team


async def party_team(session: AsyncSession, principal: Principal, community: str) -> Team:
    """The community's party-member team, made now if it is not there yet, whoever else
    makes it at the same moment; its making is in its history under ``principal``'s name
    (who asked for the work)."""
    made = await repository.insert_party_team(session, community, PARTY_TEAM_NAME)
    team = await repository.party_team(session, community)
    if made is not None:
        await history.changed(
            session, principal, "team", team, "created", **await history.roster(session, team)
        )
    return team


class _NotAnArea(Exception):
    pass


async def ensure_party_teams(
    *, database: Database, peers, principal: Principal, community: str | None
) -> None:
    """Every community has its party-member team before its first party member registers:
    a listing of a community's teams makes it, for a community the registry knows. In short
    transactions of their own, before the listing is read: the listing's is a read
    transaction (which on SQLite cannot turn into a writer), and no transaction waits on
    the registry. A registry that does not answer leaves the team for the next look."""
    async with database.transaction(write=False) as session:
        codes = await repository.communities_in_view(session, principal, community)
        if not codes:
            return
        missing = sorted(set(codes) - await repository.communities_with_party_team(session, codes))
    communities = []
    for code in missing:
        try:
            area = await RegistryClient(peers).area(
                code=code, errors={404: _NotAnArea, 422: _NotAnArea}
            )
        except _NotAnArea:
            continue
        except AppError as exc:
            log.warning("party team not made", extra={"community": code, "code": exc.code})
            continue
        if area.level == "community":
            communities.append(code)
    if communities:
        async with database.transaction() as session:
            for code in communities:
                await party_team(session, principal, code)


async def list_teams(
    *, session: AsyncSession, principal: Principal, page: PageParams, community: str | None
) -> tuple[list[Team], str | None]:
    prefix = significant_prefix(community) if community else None
    return await repository.list_teams(session, principal, page, community_prefix=prefix)


async def set_team_members(
    *, session: AsyncSession, principal: Principal, team_id: str, ids: list[str], leader: str | None
) -> Team:
    team = await repository.team(session, principal, team_id)
    if team is None or not principal.reaches(team.community_code):
        raise NotFound()
    wanted = list(dict.fromkeys([*ids, *([leader] if leader else [])]))
    found = await repository.active_volunteer_ids(session, wanted, team.community_code)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise Unprocessable(
            "validation.not_found",
            errors=[FieldError("volunteer_ids", "not_found")],
            extra={"missing": missing},
        )
    was = history.snapshot("team", team, **await history.roster(session, team))
    for member in await repository.team_members(session, team.id):
        await session.delete(member)
    await session.flush()
    for vid in wanted:
        session.add(TeamMember(team_id=team.id, volunteer_id=vid))
    team.leader_id = leader
    await session.flush()
    now = await history.roster(session, team)
    await history.changed(session, principal, "team", team, "members_set", was, **now)
    return team


def may_join(team: Team, volunteer: Volunteer) -> bool:
    """Who joins a team by themselves: anyone of the community when it is open; the
    community's in-service party members the party-member team (seed 001: they report to
    the community they live in); nobody else but whom a worker adds."""
    if team.community_code != volunteer.community_code:
        return False
    if team.joining == "open":
        return True
    return team.kind == "party_member" and volunteer.in_service_party_member


# What a volunteer whose registration is not active can do about it, for the refusal.
NEXT_STEP = {
    "pending": ("请等待社区工作者审核。", "Wait for the community worker's review."),
    "rejected": (
        "如有疑问请联系社区工作者。",
        "Ask the community worker if you think this is wrong.",
    ),
    "withdrawn": ("重新注册后即可加入。", "Register again to join."),
}


def not_approved(volunteer: Volunteer) -> Conflict:
    """A registration waiting for review, rejected or withdrawn: told as it is (the teams
    of the community are not shown to it, but "not found" would send it looking)."""
    next_zh, next_en = NEXT_STEP.get(volunteer.status, ("", ""))
    name = VOLUNTEER_STATUS_NAMES.get(volunteer.status, volunteer.status)
    return Conflict(
        "volunteer.not_approved",
        extra={"volunteer_status": volunteer.status, "volunteer_status_name": name},
        state=volunteer.status,
        state_zh=name,
        next_zh=next_zh,
        next_en=next_en,
    )


async def _own_team(
    session: AsyncSession, principal: Principal, team_id: str, *, joining: bool = False
):
    """The caller's volunteer record and a team of their community. To join, the
    registration must be active: the answer to any other is the same whichever team it
    names, so it tells nothing about the teams."""
    volunteer = await repository.volunteer_of_user(session, principal.user_id)
    if volunteer is None:
        raise NotFound("volunteer.not_registered")
    if joining and volunteer.status != "active":
        raise not_approved(volunteer)
    team = await repository.team(session, principal, team_id)
    if team is None or team.community_code != volunteer.community_code:
        raise NotFound()
    return volunteer, team


async def join_team(*, session: AsyncSession, principal: Principal, team_id: str) -> Team:
    """A volunteer joins a team of their community by themselves; a second join is none."""
    volunteer, team = await _own_team(session, principal, team_id, joining=True)
    if not may_join(team, volunteer):
        raise Forbidden("team.invitation_only")
    was = history.snapshot("team", team, **await history.roster(session, team))
    await repository.add_team_member(session, team.id, volunteer.id)
    now = await history.roster(session, team)
    await history.changed(session, principal, "team", team, "joined", was, **now)
    return team


async def leave_team(*, session: AsyncSession, principal: Principal, team_id: str) -> Team:
    volunteer, team = await _own_team(session, principal, team_id)
    was = history.snapshot("team", team, **await history.roster(session, team))
    await repository.remove_team_member(session, team.id, volunteer.id)
    now = await history.roster(session, team)
    await history.changed(session, principal, "team", team, "left", was, **now)
    return team


async def leave_all(session: AsyncSession, principal: Principal, volunteer: Volunteer) -> None:
    """A volunteer who withdraws leaves their teams (and the lead of one they led): each
    team's history says so, by name."""
    for team in await repository.teams_of(session, volunteer.id):
        was = history.snapshot("team", team, **await history.roster(session, team))
        await repository.remove_team_member(session, team.id, volunteer.id)
        if team.leader_id == volunteer.id:
            team.leader_id = None
            await session.flush()
        now = await history.roster(session, team)
        await history.changed(session, principal, "team", team, "left", was, **now)


async def teams_of(session: AsyncSession, volunteer: Volunteer) -> list[Team]:
    return await repository.teams_of(session, volunteer.id)


async def member_counts(session: AsyncSession, teams: list[Team]) -> dict[str, int]:
    return await repository.member_counts(session, [t.id for t in teams])
