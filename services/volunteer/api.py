"""The volunteer service's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import func, select

from services.common.auth import Principal, PrincipalDep, require
from services.common.clock import clock
from services.common.database import SessionDep, TransactionalRoute
from services.common.errors import NotFound
from services.common.http import with_etag
from services.common.pagination import Page, PageParams, page_params, paginate
from services.common.scope import prefix_clause
from services.common.validators import AreaCodeStr, significant_prefix
from services.volunteer import service
from services.volunteer.models import Activity, HoursEntry, Signup, Team, TeamMember, Volunteer
from services.volunteer.schemas import (
    ActivityCreate,
    ActivityOut,
    AdjustmentIn,
    AttendanceIn,
    AttendanceOut,
    CheckinToken,
    CorrectionRequest,
    FinishOut,
    HoursEntryOut,
    HoursOut,
    PartyMemberStats,
    RateOut,
    SignupOut,
    TeamCreate,
    TeamMembers,
    TeamOut,
    VolunteerCreate,
    VolunteerOut,
)

router = APIRouter(prefix="/api/v1/volunteer", tags=["volunteer"], route_class=TransactionalRoute)

Paging = Annotated[PageParams, Depends(page_params)]
Manager = Annotated[Principal, Depends(require("volunteer:manage"))]
Reader = Annotated[Principal, Depends(require("volunteer:read"))]
Self = Annotated[Principal, Depends(require("volunteer:self"))]


def volunteer_out(v: Volunteer) -> VolunteerOut:
    return VolunteerOut(
        id=v.id,
        number=v.number,
        name=v.name,
        id_number_masked=v.id_number_masked,
        phone=v.phone_masked,
        community_code=v.community_code,
        skills=v.skills,
        availability=v.availability,
        in_service_party_member=v.in_service_party_member,
        employer_unit_id=v.employer_unit_id,
        party_reported_on=v.party_reported_on,
        status=v.status,
        matched_resident=v.resident_id is not None,
        created_at=v.created_at,
    )


# --- volunteers ----------------------------------------------------------------------------


@router.post("/volunteers", status_code=201)
async def register(
    body: VolunteerCreate, request: Request, session: SessionDep, principal: Self
) -> VolunteerOut:
    """Real-name registration. A match with a current resident of that community (name and
    ID number) is active at once; otherwise it waits for the community worker's review."""
    state = request.app.state
    volunteer = await service.register(
        session=session,
        principal=principal,
        cipher=state.cipher,
        peers=state.peers,
        settings=state.settings,
        data=body,
    )
    return volunteer_out(volunteer)


@router.get("/volunteers/me")
async def me(session: SessionDep, principal: PrincipalDep) -> VolunteerOut:
    return volunteer_out(await service.volunteer_for(session, principal))


@router.post("/volunteers/me/withdraw")
async def withdraw(session: SessionDep, principal: Self) -> VolunteerOut:
    return volunteer_out(await service.withdraw(session=session, principal=principal))


@router.post("/volunteers/me/party-report")
async def party_report(session: SessionDep, principal: Self) -> VolunteerOut:
    """An in-service party member reports to the community where they live (在职党员报到)."""
    return volunteer_out(await service.party_report(session=session, principal=principal))


@router.get("/volunteers")
async def list_volunteers(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = None,
    status: str | None = Query(default=None, pattern="^(active|pending|rejected|withdrawn)$"),
) -> Page[VolunteerOut]:
    stmt = select(Volunteer).where(service.in_scope(principal))
    if community:
        stmt = stmt.where(prefix_clause(Volunteer.community_code, significant_prefix(community)))
    if status:
        stmt = stmt.where(Volunteer.status == status)
    rows, cursor = await paginate(session, stmt, [Volunteer.id], page)
    return Page(items=[volunteer_out(v) for v in rows], next_cursor=cursor)


@router.post("/volunteers/{volunteer_id}/approve")
async def approve(volunteer_id: str, session: SessionDep, principal: Manager) -> VolunteerOut:
    return volunteer_out(
        await service.review(
            session=session, principal=principal, volunteer_id=volunteer_id, approve=True
        )
    )


@router.post("/volunteers/{volunteer_id}/reject")
async def reject(volunteer_id: str, session: SessionDep, principal: Manager) -> VolunteerOut:
    return volunteer_out(
        await service.review(
            session=session, principal=principal, volunteer_id=volunteer_id, approve=False
        )
    )


# --- teams ---------------------------------------------------------------------------------


async def teams_out(session, teams: list[Team]) -> list[TeamOut]:
    """Member counts for a page of teams in one query."""
    counts = (
        dict(
            (
                await session.execute(
                    select(TeamMember.team_id, func.count())
                    .where(TeamMember.team_id.in_([t.id for t in teams]))
                    .group_by(TeamMember.team_id)
                )
            ).all()
        )
        if teams
        else {}
    )
    return [
        TeamOut(
            id=t.id,
            community_code=t.community_code,
            name=t.name,
            kind=t.kind,
            leader_id=t.leader_id,
            members=counts.get(t.id, 0),
        )
        for t in teams
    ]


async def team_out(session, team: Team) -> TeamOut:
    return (await teams_out(session, [team]))[0]


@router.post("/teams", status_code=201)
async def create_team(body: TeamCreate, session: SessionDep, principal: Manager) -> TeamOut:
    return await team_out(
        session, await service.create_team(session=session, principal=principal, data=body)
    )


@router.get("/teams")
async def list_teams(
    session: SessionDep, principal: PrincipalDep, page: Paging, community: AreaCodeStr | None = None
) -> Page[TeamOut]:
    stmt = select(Team)
    if community:
        stmt = stmt.where(prefix_clause(Team.community_code, significant_prefix(community)))
    rows, cursor = await paginate(session, stmt, [Team.id], page)
    return Page(items=await teams_out(session, rows), next_cursor=cursor)


@router.put("/teams/{team_id}/members")
async def set_members(
    team_id: str, body: TeamMembers, session: SessionDep, principal: Manager
) -> TeamOut:
    team = await service.set_team_members(
        session=session,
        principal=principal,
        team_id=team_id,
        ids=body.volunteer_ids,
        leader=body.leader_id,
    )
    return await team_out(session, team)


# --- activities ----------------------------------------------------------------------------


async def activities_out(session, activities: list[Activity]) -> list[ActivityOut]:
    """Waitlist lengths for a page of activities in one query."""
    waiting = (
        dict(
            (
                await session.execute(
                    select(Signup.activity_id, func.count())
                    .where(
                        Signup.activity_id.in_([a.id for a in activities]),
                        Signup.status == "waitlisted",
                    )
                    .group_by(Signup.activity_id)
                )
            ).all()
        )
        if activities
        else {}
    )
    return [
        ActivityOut.model_validate(a, from_attributes=True).model_copy(
            update={"waitlisted": waiting.get(a.id, 0)}
        )
        for a in activities
    ]


async def activity_out(session, activity: Activity) -> ActivityOut:
    return (await activities_out(session, [activity]))[0]


@router.post("/activities", status_code=201)
async def create_activity(
    body: ActivityCreate, session: SessionDep, principal: Manager
) -> ActivityOut:
    return await activity_out(
        session, await service.create_activity(session=session, principal=principal, data=body)
    )


@router.get("/activities")
async def list_activities(
    session: SessionDep,
    principal: PrincipalDep,
    page: Paging,
    community: AreaCodeStr | None = None,
    upcoming: bool = False,
) -> Page[ActivityOut]:
    stmt = select(Activity)
    if community:
        stmt = stmt.where(prefix_clause(Activity.community_code, significant_prefix(community)))
    if upcoming:
        stmt = stmt.where(Activity.end_at > clock.now(), Activity.status == "published")
    rows, cursor = await paginate(session, stmt, [Activity.id], page)
    return Page(items=await activities_out(session, rows), next_cursor=cursor)


@router.get("/activities/{activity_id}")
async def get_activity(
    activity_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
) -> ActivityOut:
    out = await activity_out(session, await service.get_activity(session, activity_id))
    return with_etag(request, response, out)


@router.post("/activities/{activity_id}/cancel")
async def cancel_activity(activity_id: str, session: SessionDep, principal: Manager) -> ActivityOut:
    activity = await service.get_activity(session, activity_id)
    if not principal.reaches(activity.community_code):
        raise NotFound()
    activity.status = "cancelled"
    await session.flush()
    return await activity_out(session, activity)


def signup_out(signup: Signup, rank: int | None = None) -> SignupOut:
    return SignupOut.model_validate(signup, from_attributes=True).model_copy(
        update={"waitlist_rank": rank}
    )


@router.post("/activities/{activity_id}/signups", status_code=201)
async def sign_up(activity_id: str, session: SessionDep, principal: Self) -> SignupOut:
    """Capacity is never exceeded, whatever the concurrency; a full activity waitlists."""
    signup = await service.sign_up(session=session, principal=principal, activity_id=activity_id)
    rank = None
    if signup.status == "waitlisted":
        rank = await session.scalar(
            select(func.count()).where(
                Signup.activity_id == activity_id,
                Signup.status == "waitlisted",
                Signup.position <= signup.position,
            )
        )
    return signup_out(signup, rank)


@router.delete("/activities/{activity_id}/signups/me")
async def cancel_signup(activity_id: str, session: SessionDep, principal: Self) -> SignupOut:
    """A cancellation promotes the head of the waitlist."""
    return signup_out(
        await service.cancel_signup(session=session, principal=principal, activity_id=activity_id)
    )


@router.get("/activities/{activity_id}/signups")
async def list_signups(
    activity_id: str, session: SessionDep, principal: Manager, page: Paging
) -> Page[SignupOut]:
    activity = await service.get_activity(session, activity_id)
    if not principal.reaches(activity.community_code):
        raise NotFound()
    stmt = select(Signup).where(Signup.activity_id == activity_id)
    rows, cursor = await paginate(session, stmt, [Signup.position, Signup.id], page)
    return Page(items=[signup_out(s) for s in rows], next_cursor=cursor)


@router.post("/activities/{activity_id}/attendance")
async def attendance(
    activity_id: str, body: AttendanceIn, request: Request, session: SessionDep, principal: Self
) -> AttendanceOut:
    """Check in or out within the window and inside the geofence, or with the organiser's
    QR token. The result and the distance are kept; the position is not."""
    result = await service.attend(
        session=session,
        principal=principal,
        settings=request.app.state.settings,
        activity_id=activity_id,
        data=body,
    )
    return AttendanceOut(**result)


@router.get("/activities/{activity_id}/checkin-token")
async def checkin_token(
    activity_id: str, request: Request, session: SessionDep, principal: Manager
) -> CheckinToken:
    """The rotating QR code the organiser shows; each token is valid for
    ``volunteer_qr_token_s`` (60 s by default)."""
    activity = await service.get_activity(session, activity_id)
    if not principal.reaches(activity.community_code):
        raise NotFound()
    token, expires = service.checkin_token(
        activity, clock.now(), request.app.state.settings.volunteer_qr_token_s
    )
    return CheckinToken(token=token, expires_at=expires)


@router.post("/activities/{activity_id}/finish")
async def finish(
    activity_id: str, request: Request, session: SessionDep, principal: Manager
) -> FinishOut:
    return FinishOut(
        **await service.finish(
            session=session,
            principal=principal,
            settings=request.app.state.settings,
            activity_id=activity_id,
        )
    )


# --- hours ---------------------------------------------------------------------------------


@router.get("/volunteers/{volunteer_id}/hours")
async def hours(
    volunteer_id: str, request: Request, session: SessionDep, principal: PrincipalDep, page: Paging
) -> HoursOut:
    """The ledger, newest first, with the total and the star level."""
    volunteer = await service.get_volunteer(session, principal, volunteer_id)
    rows, cursor = await paginate(
        session,
        select(HoursEntry).where(HoursEntry.volunteer_id == volunteer.id),
        [HoursEntry.id],
        page,
        descending=True,
    )
    total = await service.total_hours(session, volunteer.id)
    level, upcoming = service.star_level(total, request.app.state.settings.volunteer_star_levels)
    return HoursOut(
        volunteer_id=volunteer.id,
        total_hours=total,
        star_level=level,
        next_level_hours=upcoming,
        entries=[HoursEntryOut.model_validate(e, from_attributes=True) for e in rows],
        next_cursor=cursor,
    )


@router.post("/volunteers/me/correction-requests", status_code=201)
async def request_correction(
    body: CorrectionRequest, session: SessionDep, principal: Self
) -> HoursEntryOut:
    """A volunteer asks for a correction of their hours: pending until a worker decides."""
    entry = await service.request_correction(session=session, principal=principal, data=body)
    return HoursEntryOut.model_validate(entry, from_attributes=True)


@router.post("/hours/adjustments", status_code=201)
async def adjust(body: AdjustmentIn, session: SessionDep, principal: Manager) -> HoursEntryOut:
    """A correction or a back-entry: a new line with a reason, pending until another worker
    approves it. Lines are never edited."""
    entry = await service.add_adjustment(session=session, principal=principal, data=body)
    return HoursEntryOut.model_validate(entry, from_attributes=True)


@router.post("/hours/adjustments/{entry_id}/approve")
async def approve_adjustment(
    entry_id: str, session: SessionDep, principal: Manager
) -> HoursEntryOut:
    entry = await service.review_entry(
        session=session, principal=principal, entry_id=entry_id, approve=True
    )
    return HoursEntryOut.model_validate(entry, from_attributes=True)


@router.post("/hours/adjustments/{entry_id}/reject")
async def reject_adjustment(
    entry_id: str, session: SessionDep, principal: Manager
) -> HoursEntryOut:
    entry = await service.review_entry(
        session=session, principal=principal, entry_id=entry_id, approve=False
    )
    return HoursEntryOut.model_validate(entry, from_attributes=True)


# --- statistics ----------------------------------------------------------------------------


@router.get("/stats/registration-rate")
async def registration_rate(
    request: Request,
    session: SessionDep,
    principal: Reader,
    area: str = Query(pattern=r"^\d{12}$"),
    level: str | None = Query(
        default=None, pattern="^(street|community)$", description="every area at this level below"
    ),
) -> RateOut:
    """The 10% target (seed 000) for the area and each child area (or each at ``level``)."""
    state = request.app.state
    return RateOut(
        **await service.registration_rate(
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
    session: SessionDep, principal: Reader, area: str = Query(pattern=r"^\d{12}$")
) -> PartyMemberStats:
    return PartyMemberStats(
        **await service.party_member_stats(session=session, principal=principal, area=area)
    )
