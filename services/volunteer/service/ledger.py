"""The hours ledger 服务时长: entries are never edited; corrections and back-entries are new
lines with a reason, approved by a second person."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import clock
from services.common.errors import Conflict, Forbidden, NotFound
from services.common.events import settle_notices
from services.common.ids import new_id
from services.common.pagination import PageParams
from services.volunteer import repository
from services.volunteer.models import HoursEntry, outbox
from services.volunteer.schemas import AdjustmentIn
from services.volunteer.service.registration import get_volunteer, volunteer_for


async def add_adjustment(
    *, session: AsyncSession, principal: Principal, data: AdjustmentIn
) -> HoursEntry:
    volunteer = await get_volunteer(session, principal, data.volunteer_id)
    if not principal.has("volunteer:manage"):
        raise Forbidden()
    entry = HoursEntry(
        id=new_id(),
        volunteer_id=volunteer.id,
        community_code=volunteer.community_code,
        kind=data.kind,
        service_date=data.service_date,
        hours=data.hours,
        reason=data.reason,
        status="pending",
        entered_by=principal.user_id,
        entered_by_name=principal.name,
    )
    session.add(entry)
    await session.flush()
    return entry


async def request_correction(*, session: AsyncSession, principal: Principal, data) -> HoursEntry:
    """The volunteer's own request: a pending line that a community worker approves or
    rejects; the volunteer cannot approve it."""
    volunteer = await volunteer_for(session, principal)
    entry = HoursEntry(
        id=new_id(),
        volunteer_id=volunteer.id,
        community_code=volunteer.community_code,
        activity_id=data.activity_id,
        kind="correction",
        service_date=data.service_date,
        hours=data.hours,
        reason=data.reason,
        status="pending",
        entered_by=principal.user_id,
        entered_by_name=principal.name,
    )
    session.add(entry)
    await session.flush()
    return entry


async def review_entry(
    *, session: AsyncSession, principal: Principal, entry_id: str, approve: bool
) -> HoursEntry:
    """A second person approves: never the one who entered it."""
    entry = await repository.hours_entry(session, principal, entry_id)
    if entry is None:
        raise NotFound()
    if not principal.has("volunteer:manage"):
        raise Forbidden()
    if entry.status != "pending":
        raise Conflict("hours.not_pending")
    if entry.entered_by == principal.user_id:
        raise Forbidden("hours.same_person")
    entry.status = "approved" if approve else "rejected"
    entry.approved_by = principal.user_id
    entry.approved_by_name = principal.name
    entry.approved_at = clock.now()
    await session.flush()
    if approve and entry.hours > 0:
        await repository.mark_served(session, entry.volunteer_id, entry.service_date)
    if entry.activity_id and not await repository.pending_hours_of(session, entry.activity_id):
        await settle_notices(
            session, outbox, "volunteer", "activity", entry.activity_id, "hours_to_review"
        )
    return entry


def star_level(total: Decimal, levels: list[int]) -> tuple[int, Decimal | None]:
    """Star level 星级 by total approved hours, and the hours of the next level."""
    level = sum(1 for threshold in levels if total >= threshold)
    upcoming = next((Decimal(t) for t in levels if total < t), None)
    return level, upcoming


async def ledger(
    *, session: AsyncSession, principal: Principal, volunteer_id: str, page: PageParams
) -> tuple[str, Decimal, list[HoursEntry], str | None]:
    """A volunteer's lines, newest first, and their approved total."""
    volunteer = await get_volunteer(session, principal, volunteer_id)
    rows, cursor = await repository.ledger_page(session, volunteer.id, page)
    return volunteer.id, await repository.total_hours(session, volunteer.id), rows, cursor
