"""Sign-ups 报名: confirmed while places remain, waitlisted after, in order of arrival; a
cancellation gives the place to the head of the waitlist in the same transaction.

Every change of an activity's places holds the activity row's lock to its commit (a sign-up
from taking its arrival position, a cancellation from its start), so they run one after
another: a cancellation sees the sign-up that came just before it and promotes it, a sign-up
after a cancellation finds the freed place."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import clock
from services.common.errors import Conflict, NotFound
from services.common.ids import new_id
from services.common.pagination import PageParams
from services.volunteer import repository
from services.volunteer.models import Signup
from services.volunteer.service.activities import get_activity, managed_activity
from services.volunteer.service.registration import volunteer_for
from services.volunteer.service.waitlist import promote_waitlist


async def sign_up(*, session: AsyncSession, principal: Principal, activity_id: str) -> Signup:
    """The place is taken by one conditional UPDATE, so no interleaving of requests can
    exceed the capacity."""
    volunteer = await volunteer_for(session, principal)
    if volunteer.status != "active":
        raise Conflict("volunteer.not_active")
    activity = await get_activity(session, principal, activity_id)
    now = clock.now()
    if activity.status != "published":
        raise Conflict("activity.not_open")
    if now > (activity.signup_deadline or activity.start_at):
        raise Conflict("activity.signup_closed")
    clash = await repository.overlapping_signup(session, volunteer.id, activity)
    if clash == activity.id:
        raise Conflict("signup.exists")
    if clash is not None:
        raise Conflict("signup.overlaps", extra={"activity_id": clash})
    position = await repository.take_arrival_position(session, activity.id)
    # Now under the row's lock: the activity as committed, should the organiser have just
    # moved it or cancelled it.
    activity = await repository.lock_activity(session, activity.id)
    if activity.status != "published":
        raise Conflict("activity.not_open")
    confirmed = await repository.take_place(session, activity.id)
    signup = Signup(
        id=new_id(),
        activity_id=activity.id,
        volunteer_id=volunteer.id,
        position=position,
        status="confirmed" if confirmed else "waitlisted",
        start_at=activity.start_at,
        end_at=activity.end_at,
    )
    try:
        async with session.begin_nested():
            session.add(signup)
            await session.flush()
    except IntegrityError:
        raise Conflict("signup.exists") from None
    return signup


async def waitlist_rank(session: AsyncSession, signup: Signup) -> int | None:
    if signup.status != "waitlisted":
        return None
    return await repository.waitlist_rank(session, signup.activity_id, signup.position)


async def cancel_signup(*, session: AsyncSession, principal: Principal, activity_id: str) -> Signup:
    volunteer = await volunteer_for(session, principal)
    activity = await get_activity(session, principal, activity_id)
    activity = await repository.lock_activity(session, activity.id)
    signup = await repository.live_signup(session, activity.id, volunteer.id)
    if signup is None:
        raise NotFound()
    if clock.now() > (activity.cancel_deadline or activity.start_at):
        raise Conflict("signup.cancel_closed")
    was_confirmed = signup.status == "confirmed"
    if not await repository.set_signup_status(
        session, signup, "cancelled", cancelled_at=clock.now()
    ):
        raise Conflict("signup.changed")
    if was_confirmed:
        await promote_waitlist(session, activity)
    await session.refresh(signup)
    return signup


async def list_signups(
    *, session: AsyncSession, principal: Principal, activity_id: str, page: PageParams
) -> tuple[list[tuple[Signup, str, str, str]], str | None, dict[str, int]]:
    """A page of the sign-ups in order of arrival, each with the volunteer's name, number
    and masked phone, and each waiting one's place in the queue (1: promoted next), as the
    volunteer was told it."""
    activity = await managed_activity(session, principal, activity_id)
    rows, cursor = await repository.list_signups(session, activity.id, page)
    ranks = await waitlist_ranks(session, activity.id, [row[0] for row in rows])
    return rows, cursor, ranks


async def waitlist_ranks(
    session: AsyncSession, activity_id: str, rows: list[Signup]
) -> dict[str, int]:
    """The ranks of the waiting sign-ups of a page in one count: a page is a run of the
    activity's sign-ups in order of arrival, so every waiting one between its first and
    its last is on it, and each ranks one after the one before."""
    waiting = sorted((s for s in rows if s.status == "waitlisted"), key=lambda s: s.position)
    if not waiting:
        return {}
    first = await repository.waitlist_rank(session, activity_id, waiting[0].position)
    return {s.id: first + i for i, s in enumerate(waiting)}
