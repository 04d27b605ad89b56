"""Attendance 签到签退: inside the time window and the geofence, or with the organiser's
rotating QR code; closing an activity turns attendance into hours in the ledger."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import clock, local_date
from services.common.errors import Conflict, FieldError, NotFound, Unprocessable
from services.common.geo import distance_m, to_wgs84
from services.common.ids import new_id
from services.common.settings import Settings
from services.volunteer import repository
from services.volunteer.models import Activity, HoursEntry
from services.volunteer.schemas import AttendanceIn
from services.volunteer.service.activities import get_activity, managed_activity
from services.volunteer.service.registration import volunteer_for


def checkin_token(activity: Activity, now: datetime, ttl_s: int) -> tuple[str, datetime]:
    issued = int(now.timestamp())
    signature = hmac.new(
        activity.checkin_secret.encode(), f"{activity.id}:{issued}".encode(), hashlib.sha256
    ).hexdigest()[:16]
    return f"{issued}.{signature}", datetime.fromtimestamp(issued + ttl_s, tz=now.tzinfo)


def token_valid(activity: Activity, token: str, now: datetime, ttl_s: int) -> bool:
    issued_text, _, signature = token.partition(".")
    if not issued_text.isdigit():
        return False
    issued = int(issued_text)
    expected = hmac.new(
        activity.checkin_secret.encode(), f"{activity.id}:{issued}".encode(), hashlib.sha256
    ).hexdigest()[:16]
    return hmac.compare_digest(expected, signature) and 0 <= now.timestamp() - issued <= ttl_s


async def organiser_token(
    *, session: AsyncSession, principal: Principal, settings: Settings, activity_id: str
) -> tuple[str, datetime]:
    activity = await managed_activity(session, principal, activity_id)
    return checkin_token(activity, clock.now(), settings.volunteer_qr_token_s)


async def attend(
    *,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    activity_id: str,
    data: AttendanceIn,
) -> dict[str, Any]:
    volunteer = await volunteer_for(session, principal)
    activity = await get_activity(session, principal, activity_id)
    signup = await repository.confirmed_signup(session, activity.id, volunteer.id)
    if signup is None:
        raise NotFound("signup.not_confirmed")
    now = clock.now()
    slack = timedelta(minutes=settings.volunteer_checkin_window_min)
    start, end = activity.start_at, activity.end_at
    if data.action == "check_in":
        window = (start - slack, end)
        if signup.check_in_at is not None and signup.check_in_ok:
            raise Conflict("attendance.already")
    else:
        window = (start, end + slack)
        if not signup.check_in_ok:
            raise Conflict("attendance.not_checked_in")
        if signup.check_out_at is not None:
            raise Conflict("attendance.already")
    if not window[0] <= now <= window[1]:
        raise Conflict("attendance.outside_window")
    distance = None
    if data.token:
        ok, method = token_valid(activity, data.token, now, settings.volunteer_qr_token_s), "token"
    elif data.lat is not None and data.lng is not None and activity.lat is not None:
        lat, lng = to_wgs84(data.lat, data.lng, data.coord_system)
        distance = round(distance_m(lat, lng, activity.lat, activity.lng), 1)
        ok, method = distance <= activity.radius_m, "geo"
    else:
        raise Unprocessable("validation.missing", errors=[FieldError("token", "missing")])
    # The result and the distance are kept, never where the phone was.
    if data.action == "check_in":
        signup.check_in_ok, signup.check_in_distance_m, signup.check_in_method = (
            ok,
            distance,
            method,
        )
        if ok:
            signup.check_in_at = now
    else:
        signup.check_out_ok, signup.check_out_distance_m = ok, distance
        if ok:
            signup.check_out_at = now
    await session.flush()
    return {"action": data.action, "ok": ok, "method": method, "distance_m": distance, "at": now}


def served_hours(
    check_in: datetime, check_out: datetime, start: datetime, end: datetime
) -> Decimal:
    """Hours = the overlap of check-in…check-out with the activity's start…end."""
    seconds = (min(check_out, end) - max(check_in, start)).total_seconds()
    return Decimal(max(0.0, seconds) / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def finish(
    *, session: AsyncSession, principal: Principal, settings: Settings, activity_id: str
) -> dict[str, Any]:
    """After the end: no-shows are marked, forgotten check-outs close at the end (flagged),
    and each attendee's hours go into the ledger — approved, unless the day's total would
    pass the daily cap, which needs a person's approval. Closed once: the activity row is
    locked first, so a second closing waits and then finds it finished."""
    activity = await managed_activity(session, principal, activity_id)
    activity = await repository.lock_activity(session, activity.id)
    now = clock.now()
    start, end = activity.start_at, activity.end_at
    if now < end:
        raise Conflict("activity.not_over")
    if activity.status != "published":
        raise Conflict("activity.not_open")
    tally = Counter()
    service_date = local_date(end)
    for signup in await repository.confirmed_signups(session, activity.id):
        if not signup.check_in_ok:
            signup.status = "no_show"
            tally["no_shows"] += 1
            continue
        if signup.check_out_at is None:
            signup.check_out_at = end
            signup.auto_closed = True
            tally["auto_closed"] += 1
        hours = served_hours(signup.check_in_at, signup.check_out_at, start, end)
        volunteer = await repository.volunteer_row(session, signup.volunteer_id)
        day_total = await repository.approved_hours_on(session, volunteer.id, service_date)
        over_cap = day_total + hours > Decimal(settings.volunteer_daily_cap_hours)
        session.add(
            HoursEntry(
                id=new_id(),
                volunteer_id=volunteer.id,
                community_code=volunteer.community_code,
                activity_id=activity.id,
                kind="activity",
                service_date=service_date,
                hours=hours,
                reason="超过每日上限,待审核" if over_cap else None,
                status="pending" if over_cap else "approved",
                entered_by=f"activity:{activity.id}",
                approved_by=None if over_cap else f"activity:{activity.id}",
                approved_at=None if over_cap else now,
            )
        )
        tally["attended"] += 1
        tally["hours_entries"] += 1
        tally["pending_approval"] += int(over_cap)
    activity.status = "finished"
    await session.flush()
    return {
        "activity_id": activity.id,
        **{
            k: tally[k]
            for k in ("attended", "no_shows", "auto_closed", "hours_entries", "pending_approval")
        },
    }
