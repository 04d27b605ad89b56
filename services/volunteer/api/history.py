"""Each record's change history: who changed it (id and name), when, which fields, the
personal data masked; readable by whoever may read the record (an activity's, by those who
organise it)."""

from __future__ import annotations

from services.common.auth import PrincipalDep
from services.common.database import SessionDep
from services.common.history import HistoryEntryOut, history_pages
from services.common.pagination import Page
from services.volunteer.api.common import Paging, make_router
from services.volunteer.service import history as service

router = make_router()


_page = history_pages(service.read, service.LABELS)


@router.get("/volunteers/{volunteer_id}/history")
async def volunteer_history(
    volunteer_id: str, session: SessionDep, principal: PrincipalDep, page: Paging
) -> Page[HistoryEntryOut]:
    """Their own, for a volunteer; any in scope, for staff."""
    return await _page(session, principal, page, "volunteer", volunteer_id)


@router.get("/teams/{team_id}/history")
async def team_history(
    team_id: str, session: SessionDep, principal: PrincipalDep, page: Paging
) -> Page[HistoryEntryOut]:
    return await _page(session, principal, page, "team", team_id)


@router.get("/activities/{activity_id}/history")
async def activity_history(
    activity_id: str, session: SessionDep, principal: PrincipalDep, page: Paging
) -> Page[HistoryEntryOut]:
    return await _page(session, principal, page, "activity", activity_id)
