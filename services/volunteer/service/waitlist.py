"""The waitlist 候补: a freed or added place goes to the head of the waitlist, in order of
arrival, and the promoted volunteer is told. Every function here runs under the activity
row's lock (``repository.lock_activity``), taken by its caller."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import clock
from services.common.events import emit
from services.volunteer import repository
from services.volunteer.models import Activity, outbox


async def promote_waitlist(session: AsyncSession, activity: Activity) -> None:
    """The freed place goes to the head of the waitlist, or back to the pool."""
    head = await repository.waitlist_head(session, activity.id)
    if head is None:
        await repository.release_place(session, activity.id)
    else:
        await _promote(session, activity, head)


async def fill_places(session: AsyncSession, activity: Activity) -> int:
    """Places the capacity now has beyond the confirmed go to the waitlist's head, one by
    one; answers how many were promoted."""
    promoted = 0
    while True:
        head = await repository.waitlist_head(session, activity.id)
        if head is None or not await repository.take_place(session, activity.id):
            return promoted
        await _promote(session, activity, head)
        promoted += 1


async def give_up_future_places(session: AsyncSession, volunteer_id: str) -> int:
    """A volunteer who withdraws gives up every place (and waitlist entry) on activities
    that have not begun; each freed place goes to that activity's waitlist. What has begun
    stays, as history. The activities are locked one by one, in the order of their ids."""
    given_up = 0
    for signup in await repository.future_live_signups(session, volunteer_id, clock.now()):
        activity = await repository.lock_activity(session, signup.activity_id)
        # Read again under the lock: a cancellation may have just promoted it.
        await session.refresh(signup)
        if signup.status not in repository.LIVE:
            continue
        was_confirmed = signup.status == "confirmed"
        if not await repository.set_signup_status(
            session, signup, "cancelled", cancelled_at=clock.now()
        ):
            continue
        given_up += 1
        if was_confirmed:
            if activity.status == "published":
                await promote_waitlist(session, activity)
            else:
                await repository.release_place(session, activity.id)
    return given_up


async def _promote(session: AsyncSession, activity: Activity, signup_id: str) -> None:
    await repository.confirm_signup(session, signup_id)
    # The gateway puts it in the volunteer's inbox (and on WeChat where they accepted it).
    await emit(
        session,
        outbox,
        "volunteer.signup_promoted",
        {
            "user_id": await repository.user_of_signup(session, signup_id),
            "activity_id": activity.id,
            "title": activity.title,
            "start_at": activity.start_at.isoformat(),
        },
    )
