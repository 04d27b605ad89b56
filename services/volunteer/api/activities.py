"""Activities: create, find (published ones anywhere), read, change, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from services.common.auth import PrincipalDep
from services.common.database import SessionDep
from services.common.geo import AnswerCoords, Near, near_query
from services.common.http import with_etag
from services.common.pagination import Page
from services.common.validators import AreaCodeStr
from services.volunteer.api.common import (
    Manager,
    Paging,
    activities_out,
    activity_out,
    make_router,
)
from services.volunteer.schemas import ActivityCreate, ActivityOut, ActivityUpdate
from services.volunteer.service import activities

router = make_router()


@router.post("/activities", status_code=201)
async def create_activity(
    body: ActivityCreate,
    session: SessionDep,
    principal: Manager,
    coord_system: AnswerCoords = "wgs84",
) -> ActivityOut:
    """``coord_system`` in the body says what the place was given in; the one in the query
    what the answer is in (WGS-84 unless asked), as on every endpoint."""
    activity = await activities.create_activity(session=session, principal=principal, data=body)
    return await activity_out(session, activity, coord_system)


@router.get("/activities")
async def list_activities(
    session: SessionDep,
    principal: PrincipalDep,
    page: Paging,
    near: Annotated[Near | None, Depends(near_query)],
    community: AreaCodeStr | None = None,
    upcoming: bool = False,
    coord_system: AnswerCoords = "wgs84",
) -> Page[ActivityOut]:
    """Published activities anywhere; cancelled ones within the caller's own scope. With
    ``lat`` and ``lng``: those still to come within ``radius`` metres, nearest first, each
    with its ``distance_m``."""
    rows, cursor = await activities.list_activities(
        session=session,
        principal=principal,
        page=page,
        community=community,
        upcoming=upcoming,
        near=near,
    )
    items = await activities_out(session, rows, coord_system, near=near)
    return Page(items=items, next_cursor=cursor)


@router.get("/activities/{activity_id}")
async def get_activity(
    activity_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    coord_system: AnswerCoords = "wgs84",
) -> ActivityOut:
    activity = await activities.get_activity(session, principal, activity_id)
    return with_etag(request, response, await activity_out(session, activity, coord_system))


@router.patch("/activities/{activity_id}")
async def update_activity(
    activity_id: str,
    body: ActivityUpdate,
    session: SessionDep,
    principal: Manager,
    coord_system: AnswerCoords = "wgs84",
) -> ActivityOut:
    """The organiser changes the title, description, time, place, geofence or capacity.
    The capacity never goes below the confirmed sign-ups; raising it promotes the waitlist
    in order; a change of time or place is told to everyone signed up."""
    activity = await activities.update_activity(
        session=session, principal=principal, activity_id=activity_id, data=body
    )
    return await activity_out(session, activity, coord_system)


@router.post("/activities/{activity_id}/cancel")
async def cancel_activity(activity_id: str, session: SessionDep, principal: Manager) -> ActivityOut:
    activity = await activities.cancel_activity(
        session=session, principal=principal, activity_id=activity_id
    )
    return await activity_out(session, activity)
