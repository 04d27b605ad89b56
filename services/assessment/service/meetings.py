"""Coordination-group meetings 协调会议: at least one a quarter by default (seed 001)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment import repository
from services.assessment.models import Meeting
from services.assessment.schemas import MeetingIn
from services.common.auth import Principal
from services.common.errors import NotFound
from services.common.ids import new_id
from services.common.pagination import PageParams
from services.common.validators import significant_prefix


async def add_meeting(*, session: AsyncSession, principal: Principal, data: MeetingIn) -> Meeting:
    if not principal.reaches(data.community_code):
        raise NotFound()
    meeting = Meeting(id=new_id(), created_by=principal.user_id, **data.model_dump())
    await repository.save(session=session, rows=[meeting])
    return meeting


async def list_meetings(
    *, session: AsyncSession, principal: Principal, page: PageParams, community: str | None
) -> tuple[list[Meeting], str | None]:
    prefix = significant_prefix(community) if community else None
    return await repository.list_meetings(
        session=session, principal=principal, page=page, community_prefix=prefix
    )
