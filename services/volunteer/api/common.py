"""What the volunteer service's route modules share: the router, the permissions routes ask
for, paging, and the answers more than one module gives."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, require
from services.common.database import TransactionalRoute
from services.common.geo import CoordSystem, Near, point_out
from services.common.pagination import PageParams, page_params
from services.volunteer.models import Activity, Signup, Team, Volunteer
from services.volunteer.names import REVIEW_REASON_NAMES
from services.volunteer.schemas import ActivityOut, SignupOut, TeamBrief, TeamOut, VolunteerOut
from services.volunteer.service import activities, teams

Paging = Annotated[PageParams, Depends(page_params)]
Manager = Annotated[Principal, Depends(require("volunteer:manage"))]
Reader = Annotated[Principal, Depends(require("volunteer:read"))]
# Figures and party members' reports, which a unit's contact reads for their own unit.
FigureReader = Annotated[Principal, Depends(require("volunteer:read", "volunteer:unit"))]
Self = Annotated[Principal, Depends(require("volunteer:self"))]


def make_router() -> APIRouter:
    return APIRouter(prefix="/api/v1/volunteer", tags=["volunteer"], route_class=TransactionalRoute)


def volunteer_out(v: Volunteer, teams: list[Team] | None = None) -> VolunteerOut:
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
        review_reason=v.review_reason,
        review_reason_name=REVIEW_REASON_NAMES.get(v.review_reason or ""),
        review_note=v.review_note,
        matched_resident=v.resident_id is not None,
        created_at=v.created_at,
        teams=None
        if teams is None
        else [TeamBrief(id=t.id, name=t.name, kind=t.kind) for t in teams],
    )


async def teams_out(session: AsyncSession, rows: list[Team]) -> list[TeamOut]:
    """Member counts for a page of teams in one query."""
    counts = await teams.member_counts(session, rows)
    return [
        TeamOut(
            id=t.id,
            community_code=t.community_code,
            name=t.name,
            kind=t.kind,
            leader_id=t.leader_id,
            joining=t.joining,
            members=counts.get(t.id, 0),
        )
        for t in rows
    ]


async def activities_out(
    session: AsyncSession,
    rows: list[Activity],
    system: CoordSystem = "wgs84",
    *,
    near: Near | None = None,
) -> list[ActivityOut]:
    """Waitlist lengths for a page of activities in one query; the place in ``system``;
    the distance from ``near`` when the caller looked around a point."""
    waiting = await activities.waitlist_lengths(session, rows)
    out = []
    for a in rows:
        lat, lng = point_out(a.lat, a.lng, system)
        out.append(
            ActivityOut.model_validate(a, from_attributes=True).model_copy(
                update={
                    "waitlisted": waiting.get(a.id, 0),
                    "lat": lat,
                    "lng": lng,
                    "coord_system": system,
                    "distance_m": near.distance_to(a.lat, a.lng) if near else None,
                }
            )
        )
    return out


async def activity_out(
    session: AsyncSession, activity: Activity, system: CoordSystem = "wgs84"
) -> ActivityOut:
    return (await activities_out(session, [activity], system))[0]


def signup_out(signup: Signup, rank: int | None = None) -> SignupOut:
    return SignupOut.model_validate(signup, from_attributes=True).model_copy(
        update={
            "waitlist_rank": rank,
            "flagged": signup.check_out_at is None and signup.review_reason is not None,
        }
    )
