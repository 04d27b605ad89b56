"""Coordination-group meetings."""

from __future__ import annotations

from services.assessment.api.common import Manager, Paging, Reader, make_router
from services.assessment.schemas import MeetingIn, MeetingOut
from services.assessment.service import meetings
from services.common.database import SessionDep
from services.common.pagination import Page
from services.common.validators import AreaCodeStr

router = make_router()


@router.post("/meetings", status_code=201)
async def add_meeting(body: MeetingIn, session: SessionDep, principal: Manager) -> MeetingOut:
    meeting = await meetings.add_meeting(session=session, principal=principal, data=body)
    return MeetingOut.model_validate(meeting, from_attributes=True)


@router.get("/meetings")
async def list_meetings(
    session: SessionDep, principal: Reader, page: Paging, community: AreaCodeStr | None = None
) -> Page[MeetingOut]:
    rows, cursor = await meetings.list_meetings(
        session=session, principal=principal, page=page, community=community
    )
    return Page(
        items=[MeetingOut.model_validate(m, from_attributes=True) for m in rows], next_cursor=cursor
    )
