"""The hours ledger: a volunteer's lines, corrections, adjustments and their review."""

from __future__ import annotations

from fastapi import Request

from services.common.auth import PrincipalDep
from services.common.database import SessionDep
from services.volunteer.api.common import Manager, Paging, Self, make_router
from services.volunteer.schemas import AdjustmentIn, CorrectionRequest, HoursEntryOut, HoursOut
from services.volunteer.service import ledger

router = make_router()


@router.get("/volunteers/{volunteer_id}/hours")
async def hours(
    volunteer_id: str, request: Request, session: SessionDep, principal: PrincipalDep, page: Paging
) -> HoursOut:
    """The ledger, newest first, with the total and the star level."""
    vid, total, rows, cursor = await ledger.ledger(
        session=session, principal=principal, volunteer_id=volunteer_id, page=page
    )
    level, upcoming = ledger.star_level(total, request.app.state.settings.volunteer_star_levels)
    return HoursOut(
        volunteer_id=vid,
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
    entry = await ledger.request_correction(session=session, principal=principal, data=body)
    return HoursEntryOut.model_validate(entry, from_attributes=True)


@router.post("/hours/adjustments", status_code=201)
async def adjust(body: AdjustmentIn, session: SessionDep, principal: Manager) -> HoursEntryOut:
    """A correction or a back-entry: a new line with a reason, pending until another worker
    approves it. Lines are never edited."""
    entry = await ledger.add_adjustment(session=session, principal=principal, data=body)
    return HoursEntryOut.model_validate(entry, from_attributes=True)


@router.post("/hours/adjustments/{entry_id}/approve")
async def approve_adjustment(
    entry_id: str, session: SessionDep, principal: Manager
) -> HoursEntryOut:
    entry = await ledger.review_entry(
        session=session, principal=principal, entry_id=entry_id, approve=True
    )
    return HoursEntryOut.model_validate(entry, from_attributes=True)


@router.post("/hours/adjustments/{entry_id}/reject")
async def reject_adjustment(
    entry_id: str, session: SessionDep, principal: Manager
) -> HoursEntryOut:
    entry = await ledger.review_entry(
        session=session, principal=principal, entry_id=entry_id, approve=False
    )
    return HoursEntryOut.model_validate(entry, from_attributes=True)
