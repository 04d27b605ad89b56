"""Activities 志愿活动: time, place with a geofence, capacity, deadlines."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import clock, to_local
from services.common.errors import Conflict, FieldError, NotFound, Unprocessable
from services.common.events import emit
from services.common.geo import Near, in_china_box, to_wgs84
from services.common.ids import new_id
from services.common.pagination import PageParams
from services.common.validators import significant_prefix
from services.volunteer import repository
from services.volunteer.models import Activity, outbox
from services.volunteer.schemas import ActivityCreate, ActivityUpdate
from services.volunteer.service import history, waitlist


async def create_activity(
    *, session: AsyncSession, principal: Principal, data: ActivityCreate
) -> Activity:
    if not principal.reaches(data.community_code):
        raise NotFound()
    if data.end_at <= data.start_at:
        raise Unprocessable(
            "validation.end_before_start", errors=[FieldError("end_at", "end_before_start")]
        )
    now = clock.now()
    if data.end_at <= now:
        # Over already: nobody can sign up or check in; its hours are a back-entry.
        raise Unprocessable(
            "validation.in_past",
            errors=[FieldError("end_at", "time_in_past", {"now": to_local(now).isoformat()})],
        )
    if (data.signup_deadline or data.start_at) < now:
        # Sign-up would be closed before it opened: nobody could ever join. The deadline
        # is the start unless one is given, so the field named is the one that set it.
        said = {"now": to_local(now).isoformat()}
        error = (
            FieldError("signup_deadline", "time_in_past", said)
            if data.signup_deadline is not None
            else FieldError("start_at", "signup_closes_at_start", said)
        )
        raise Unprocessable("validation.in_past", errors=[error])
    lat = lng = None
    if data.lat is not None and data.lng is not None:
        if not in_china_box(data.lat, data.lng):
            raise Unprocessable(
                "validation.outside_china", errors=[FieldError("lat", "outside_china")]
            )
        lat, lng = to_wgs84(data.lat, data.lng, data.coord_system)
    activity = Activity(
        id=new_id(),
        community_code=data.community_code,
        team_id=data.team_id,
        title=data.title,
        category=data.category,
        description=data.description,
        start_at=data.start_at,
        end_at=data.end_at,
        address=data.address,
        lat=lat,
        lng=lng,
        radius_m=data.radius_m,
        capacity=data.capacity,
        signup_deadline=data.signup_deadline or data.start_at,
        cancel_deadline=data.cancel_deadline or data.start_at,
        checkin_secret=secrets.token_hex(16),
        created_by=principal.user_id,
    )
    session.add(activity)
    await session.flush()
    await history.changed(session, principal, "activity", activity, "created")
    return activity


# Changes those signed up are told of: the time or the place.
TOLD_OF = ("start_at", "end_at", "address", "lat", "lng", "radius_m")


async def update_activity(
    *, session: AsyncSession, principal: Principal, activity_id: str, data: ActivityUpdate
) -> Activity:
    """An organiser within scope changes an activity still open. The capacity never goes
    below the confirmed sign-ups, and places it adds go to the waitlist in order; a new time
    moves the sign-ups' copies and the deadlines that were the start; everyone signed up is
    told when the time or the place changed. Under the activity row's lock, as sign-ups and
    cancellations are."""
    found = await managed_activity(session, principal, activity_id)
    activity = await repository.lock_activity(session, found.id)
    if activity.status != "published":
        raise Conflict("activity.not_open")
    given = {name: getattr(data, name) for name in data.model_fields_set - {"coord_system"}}
    if ("lat" in given) != ("lng" in given):
        missing = "lng" if "lat" in given else "lat"
        raise Unprocessable(
            "validation.both_or_neither", errors=[FieldError(missing, "both_or_neither")]
        )
    if "lat" in given:
        if not in_china_box(data.lat, data.lng):
            raise Unprocessable(
                "validation.outside_china", errors=[FieldError("lat", "outside_china")]
            )
        given["lat"], given["lng"] = to_wgs84(data.lat, data.lng, data.coord_system)
    start, end = given.get("start_at", activity.start_at), given.get("end_at", activity.end_at)
    if end <= start:
        field = "end_at" if "end_at" in given else "start_at"
        raise Unprocessable(
            "validation.end_before_start", errors=[FieldError(field, "end_before_start")]
        )
    if "capacity" in given and given["capacity"] < activity.confirmed:
        said = {"confirmed": activity.confirmed}
        raise Conflict(
            "activity.capacity_below_confirmed",
            errors=[FieldError("capacity", "capacity_below_confirmed", said)],
            **said,
        )
    changed = {k for k, v in given.items() if getattr(activity, k) != v}
    was = history.snapshot("activity", activity)
    old_start = activity.start_at
    for name in changed:
        setattr(activity, name, given[name])
    if "start_at" in changed:
        # A deadline that was the start follows it; none may fall after the new start.
        for deadline in ("signup_deadline", "cancel_deadline"):
            value = getattr(activity, deadline)
            if value is None or value == old_start or value > start:
                setattr(activity, deadline, start)
    await session.flush()
    if changed & {"start_at", "end_at"}:
        await repository.move_signups(session, activity.id, start, end)
    if "capacity" in changed:
        await waitlist.fill_places(session, activity)
    if changed & set(TOLD_OF):
        await emit(
            session,
            outbox,
            "volunteer.activity_changed",
            {
                "activity_id": activity.id,
                "title": activity.title,
                "start_at": activity.start_at.isoformat(),
                "user_ids": await repository.signed_up_users(session, activity.id),
            },
        )
    await session.refresh(activity)
    await history.changed(session, principal, "activity", activity, "updated", was)
    return activity


async def get_activity(session: AsyncSession, principal: Principal, activity_id: str) -> Activity:
    """An activity the caller may read: a published one anywhere (see the repository)."""
    activity = await repository.activity(session, principal, activity_id)
    if activity is None:
        raise NotFound()
    return activity


async def managed_activity(
    session: AsyncSession, principal: Principal, activity_id: str
) -> Activity:
    """An activity the caller organises (within their scope)."""
    activity = await repository.managed_activity(session, principal, activity_id)
    if activity is None:
        raise NotFound()
    return activity


async def list_activities(
    *,
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    community: str | None,
    upcoming: bool,
    near: Near | None = None,
) -> tuple[list[Activity], str | None]:
    """Activities the caller may see; with ``near``, those still to come around that point,
    nearest first (a resident looking for something to join)."""
    if near is not None:
        lat, lng = near.wgs84()
        return await repository.nearby_activities(
            session,
            principal,
            page,
            lat=lat,
            lng=lng,
            radius_m=near.radius_m,
            open_after=clock.now(),
        )
    return await repository.list_activities(
        session,
        principal,
        page,
        community_prefix=significant_prefix(community) if community else None,
        open_after=clock.now() if upcoming else None,
    )


async def cancel_activity(
    *, session: AsyncSession, principal: Principal, activity_id: str
) -> Activity:
    activity = await managed_activity(session, principal, activity_id)
    was = history.snapshot("activity", activity)
    activity.status = "cancelled"
    await session.flush()
    await history.changed(session, principal, "activity", activity, "cancelled", was)
    # Those who signed up are told (the gateway's inbox and WeChat), not left to find out.
    await emit(
        session,
        outbox,
        "volunteer.activity_cancelled",
        {
            "activity_id": activity.id,
            "title": activity.title,
            "start_at": activity.start_at.isoformat(),
            "user_ids": await repository.signed_up_users(session, activity.id),
        },
    )
    return activity


async def waitlist_lengths(session: AsyncSession, activities: list[Activity]) -> dict[str, int]:
    return await repository.waitlist_lengths(session, [a.id for a in activities])
