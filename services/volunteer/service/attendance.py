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
from services.common.clock import clock, local_date, to_local
from services.common.errors import AppError, Conflict, FieldError, NotFound, Unprocessable
from services.common.events import emit
from services.common.geo import distance_m, to_wgs84
from services.common.ids import new_id
from services.common.settings import Settings
from services.volunteer import repository
from services.volunteer.models import Activity, HoursEntry, Signup, outbox
from services.volunteer.schemas import AttendanceIn
from services.volunteer.service.activities import get_activity, managed_activity
from services.volunteer.service.registration import volunteer_for


def checkin_token(activity: Activity, now: datetime, ttl_s: int) -> tuple[str, datetime]:
    issued = int(now.timestamp())
    signature = hmac.new(
        activity.checkin_secret.encode(), f"{activity.id}:{issued}".encode(), hashlib.sha256
    ).hexdigest()[:16]
    return f"{issued}.{signature}", datetime.fromtimestamp(issued + ttl_s, tz=now.tzinfo)


def token_verdict(activity: Activity, token: str, now: datetime, ttl_s: int) -> str:
    """``ok``, ``expired`` (this activity's code, shown too long ago) or ``invalid``
    (another activity's, forged, or not a code at all)."""
    issued_text, _, signature = token.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 12:
        return "invalid"
    issued = int(issued_text)
    expected = hmac.new(
        activity.checkin_secret.encode(), f"{activity.id}:{issued}".encode(), hashlib.sha256
    ).hexdigest()[:16]
    if not hmac.compare_digest(expected, signature):
        return "invalid"
    age = now.timestamp() - issued
    if age < 0:
        return "invalid"  # not issued yet: no organiser showed it
    return "ok" if age <= ttl_s else "expired"


async def organiser_token(
    *, session: AsyncSession, principal: Principal, settings: Settings, activity_id: str
) -> tuple[str, datetime]:
    activity = await managed_activity(session, principal, activity_id)
    return checkin_token(activity, clock.now(), settings.volunteer_qr_token_s)


ACTIONS = {"check_in": ("签到", "check-in"), "check_out": ("签退", "check-out")}


def _when(value: datetime, day: bool = True) -> str:
    return to_local(value).strftime("%Y-%m-%d %H:%M" if day else "%H:%M")


def _window_refusal(action: str, window: tuple[datetime, datetime], keep: bool) -> AppError:
    """Outside the time window, which is said in local time."""
    opens, closes = window
    same_day = to_local(opens).date() == to_local(closes).date()
    zh, en = ACTIONS[action]
    return Conflict(
        "attendance.outside_window",
        action_zh=zh,
        action_en=en,
        opens=_when(opens),
        closes=_when(closes, day=not same_day),
        extra={
            "window_start": to_local(opens).isoformat(),
            "window_end": to_local(closes).isoformat(),
        },
        keep_writes=keep,
    )


def _geofence_refusal(action: str, distance: float, radius: float, keep: bool) -> AppError:
    zh, en = ACTIONS[action]
    said = {"distance": f"{distance:.0f}", "radius": f"{radius:g}"}
    return Unprocessable(
        "attendance.outside_geofence",
        errors=[FieldError(name, "outside_geofence", said) for name in ("lat", "lng")],
        extra={"distance_m": distance, "radius_m": radius},
        action_zh=zh,
        action_en=en,
        keep_writes=keep,
        **said,
    )


def _token_refusal(verdict: str, keep: bool) -> AppError:
    return Unprocessable(
        f"attendance.token_{verdict}",
        errors=[FieldError("token", f"checkin_token_{verdict}")],
        keep_writes=keep,
    )


# Why an attendance waits for a person (Signup.review_reason), as the ledger line says it.
REVIEW_REASONS = {
    "check_out_outside_window": "签退未通过:不在签退时间内",
    "check_out_outside_geofence": "签退未通过:距活动地点 {distance} 米,超出 {radius} 米范围",
    "check_out_token_expired": "签退未通过:签到二维码已过期",
    "check_out_token_invalid": "签退未通过:签到二维码无效",
    "no_check_out": "未签退,按活动结束时间计",
}


async def attend(
    *,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    activity_id: str,
    data: AttendanceIn,
) -> dict[str, Any]:
    """A refused check-in answers why and changes nothing that counts. A refused check-out
    answers why too, and is kept: unless a later check-out succeeds, the attendance waits
    for a worker instead of being credited to the activity's end."""
    volunteer = await volunteer_for(session, principal)
    activity = await get_activity(session, principal, activity_id)
    if not data.token and (data.lat is None or data.lng is None or activity.lat is None):
        raise Unprocessable("validation.missing", errors=[FieldError("token", "missing")])
    signup = await repository.confirmed_signup(session, activity.id, volunteer.id, lock=True)
    if signup is None:
        raise NotFound("signup.not_confirmed")
    if await repository.activity_status(session, activity.id) != "published":
        raise Conflict("activity.not_open")  # closed meanwhile: its hours are written
    now = clock.now()
    slack = timedelta(minutes=settings.volunteer_checkin_window_min)
    start, end = activity.start_at, activity.end_at
    checking_out = data.action == "check_out"
    if not checking_out:
        window = (start - slack, end)
        if signup.check_in_at is not None and signup.check_in_ok:
            raise Conflict("attendance.already")
    else:
        window = (start, end + slack)
        if not signup.check_in_ok:
            raise Conflict("attendance.not_checked_in")
        if signup.check_out_at is not None:
            raise Conflict("attendance.already")
    distance = None
    refusal: AppError | None = None
    why = None
    if not window[0] <= now <= window[1]:
        method = "token" if data.token else "geo"
        refusal, why = _window_refusal(data.action, window, checking_out), "outside_window"
    elif data.token:
        method = "token"
        verdict = token_verdict(activity, data.token, now, settings.volunteer_qr_token_s)
        if verdict != "ok":
            refusal, why = _token_refusal(verdict, checking_out), f"token_{verdict}"
    else:
        method = "geo"
        lat, lng = to_wgs84(data.lat, data.lng, data.coord_system)
        distance = round(distance_m(lat, lng, activity.lat, activity.lng), 1)
        if distance > activity.radius_m:
            refusal = _geofence_refusal(data.action, distance, activity.radius_m, checking_out)
            why = "outside_geofence"
    ok = refusal is None
    # The result and the distance are kept, never where the phone was.
    if not checking_out:
        if why != "outside_window":
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
            signup.check_out_at, signup.review_reason = now, None
        else:
            signup.check_out_tried_at, signup.review_reason = now, f"check_out_{why}"
    await session.flush()
    if refusal is not None:
        raise refusal
    return {"action": data.action, "ok": ok, "method": method, "distance_m": distance, "at": now}


def review_note(signup: Signup, radius_m: float) -> str:
    template = REVIEW_REASONS.get(signup.review_reason or "", "签退未通过")
    distance = signup.check_out_distance_m
    return template.format(
        distance=f"{distance:.0f}" if distance is not None else "?", radius=f"{radius_m:g}"
    )


def served_hours(
    check_in: datetime, check_out: datetime, start: datetime, end: datetime
) -> Decimal:
    """Hours = the overlap of check-in…check-out with the activity's start…end."""
    seconds = (min(check_out, end) - max(check_in, start)).total_seconds()
    return Decimal(max(0.0, seconds) / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def finish(
    *, session: AsyncSession, principal: Principal, settings: Settings, activity_id: str
) -> dict[str, Any]:
    """After the end: no-shows are marked, and each attendee's hours go into the ledger —
    approved, unless the day's total would pass the daily cap, or the check-out was refused
    or never made (``Signup.review_reason``; counted to the end), which need a person's
    approval. Closed once: the activity row is
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
    by_activity = f"活动“{activity.title}”"[:100]
    for signup in await repository.confirmed_signups(session, activity.id):
        if not signup.check_in_ok:
            signup.status = "no_show"
            tally["no_shows"] += 1
            continue
        volunteer = await repository.volunteer_row(session, signup.volunteer_id)
        if signup.check_out_at is None and signup.review_reason is None:
            # Never checked out: up to the end, but only once a worker agrees — walking away
            # after the check-in must not earn the whole activity by itself.
            signup.review_reason = "no_check_out"
            signup.auto_closed = True
            tally["auto_closed"] += 1
        if signup.check_out_at is None:
            # The check-out was refused (away from the place, too late, a bad code): at most
            # the time until that try, and only once a worker approves it.
            until = min(signup.check_out_tried_at or end, end)
            session.add(
                HoursEntry(
                    id=new_id(),
                    volunteer_id=volunteer.id,
                    community_code=volunteer.community_code,
                    activity_id=activity.id,
                    kind="activity",
                    service_date=service_date,
                    hours=served_hours(signup.check_in_at, until, start, end),
                    reason=review_note(signup, activity.radius_m),
                    status="pending",
                    entered_by=f"activity:{activity.id}",
                    entered_by_name=by_activity,
                )
            )
            for key in ("attended", "hours_entries", "pending_approval", "flagged"):
                tally[key] += 1
            continue
        hours = served_hours(signup.check_in_at, signup.check_out_at, start, end)
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
                reason="超过每日上限" if over_cap else None,
                status="pending" if over_cap else "approved",
                entered_by=f"activity:{activity.id}",
                entered_by_name=by_activity,
                approved_by=None if over_cap else f"activity:{activity.id}",
                approved_by_name=None if over_cap else by_activity,
                approved_at=None if over_cap else now,
            )
        )
        if not over_cap and hours > 0:
            await repository.mark_served(session, volunteer.id, service_date)
        tally["attended"] += 1
        tally["hours_entries"] += 1
        tally["pending_approval"] += int(over_cap)
    activity.status = "finished"
    await session.flush()
    if tally["pending_approval"]:
        await emit(
            session,
            outbox,
            "volunteer.hours_to_review",
            {
                "activity_id": activity.id,
                "title": activity.title,
                "community_code": activity.community_code,
                "entries": tally["pending_approval"],
            },
        )
    return {
        "activity_id": activity.id,
        **{
            k: tally[k]
            for k in (
                "attended",
                "no_shows",
                "auto_closed",
                "flagged",
                "hours_entries",
                "pending_approval",
            )
        },
    }
