"""Sign-ups, attendance, the organiser's check-in code, and closing an activity."""

from __future__ import annotations

from fastapi import Request

from services.common.database import SessionDep
from services.common.pagination import Page
from services.volunteer.api.common import Manager, Paging, Self, make_router, signup_out
from services.volunteer.schemas import (
    AttendanceIn,
    AttendanceOut,
    CheckinToken,
    FinishOut,
    SignupOut,
)
from services.volunteer.service import attendance, signups

router = make_router()


@router.post("/activities/{activity_id}/signups", status_code=201)
async def sign_up(activity_id: str, session: SessionDep, principal: Self) -> SignupOut:
    """Capacity is never exceeded, whatever the concurrency; a full activity waitlists."""
    signup = await signups.sign_up(session=session, principal=principal, activity_id=activity_id)
    return signup_out(signup, await signups.waitlist_rank(session, signup))


@router.delete("/activities/{activity_id}/signups/me")
async def cancel_signup(activity_id: str, session: SessionDep, principal: Self) -> SignupOut:
    """A cancellation promotes the head of the waitlist."""
    return signup_out(
        await signups.cancel_signup(session=session, principal=principal, activity_id=activity_id)
    )


@router.get("/activities/{activity_id}/signups")
async def list_signups(
    activity_id: str, session: SessionDep, principal: Manager, page: Paging
) -> Page[SignupOut]:
    """In order of arrival, each with the volunteer's name, number and masked phone for the
    roll call; each waiting one with their place in the queue."""
    rows, cursor, ranks = await signups.list_signups(
        session=session, principal=principal, activity_id=activity_id, page=page
    )
    return Page(
        items=[
            signup_out(s, ranks.get(s.id)).model_copy(
                update={
                    "volunteer_name": name,
                    "volunteer_number": number,
                    "volunteer_phone": phone,
                }
            )
            for s, name, number, phone in rows
        ],
        next_cursor=cursor,
    )


@router.post("/activities/{activity_id}/attendance")
async def attend(
    activity_id: str, body: AttendanceIn, request: Request, session: SessionDep, principal: Self
) -> AttendanceOut:
    """Check in or out within the window and inside the geofence, or with the organiser's
    QR token. The result and the distance are kept; the position is not."""
    result = await attendance.attend(
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
    token, expires = await attendance.organiser_token(
        session=session,
        principal=principal,
        settings=request.app.state.settings,
        activity_id=activity_id,
    )
    return CheckinToken(token=token, expires_at=expires)


@router.post("/activities/{activity_id}/finish")
async def finish(
    activity_id: str, request: Request, session: SessionDep, principal: Manager
) -> FinishOut:
    return FinishOut(
        **await attendance.finish(
            session=session,
            principal=principal,
            settings=request.app.state.settings,
            activity_id=activity_id,
        )
    )
