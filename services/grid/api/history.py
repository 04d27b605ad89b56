"""Each record's change history: who changed it (id and name), when, which fields;
readable by whoever may read the record."""

from __future__ import annotations

from services.common.auth import PrincipalDep
from services.common.database import SessionDep
from services.common.history import HistoryEntryOut, history_pages
from services.common.pagination import Page
from services.grid.api.common import Paging, Reader, make_router
from services.grid.service import history as service

router = make_router()


_page = history_pages(service.read, service.LABELS)


@router.get("/cells/{code}/history")
async def cell_history(
    code: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[HistoryEntryOut]:
    """Its fields, boundary and members (by name); a deleted cell's stays readable."""
    return await _page(session, principal, page, "cell", code)


@router.get("/cases/{case_id}/history")
async def case_history(
    case_id: str, session: SessionDep, principal: PrincipalDep, page: Paging
) -> Page[HistoryEntryOut]:
    """Each workflow step with the fields it changed (the case's ``history`` gives the
    steps with their notes)."""
    return await _page(session, principal, page, "case", case_id)
