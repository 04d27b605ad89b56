"""Each record's change history: who changed it (id and name), when, which fields;
readable by whoever may read the record (a unit's contact, their unit's)."""

from __future__ import annotations

from services.assessment.api.common import Paging, Reader, make_router
from services.assessment.service import history as service
from services.common.database import SessionDep
from services.common.history import HistoryEntryOut, history_pages
from services.common.pagination import Page

router = make_router()


_page = history_pages(service.read, service.LABELS)


@router.get("/agreements/{agreement_id}/history")
async def agreement_history(
    agreement_id: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[HistoryEntryOut]:
    """Drafted, signed by each side, superseded or terminated: by whom, when."""
    return await _page(session, principal, page, "agreement", agreement_id)


@router.get("/records/{record_id}/history")
async def record_history(
    record_id: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[HistoryEntryOut]:
    """A fulfilment record: submitted, then confirmed or disputed by the community."""
    return await _page(session, principal, page, "record", record_id)


@router.get("/applications/{application_id}/history")
async def application_history(
    application_id: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[HistoryEntryOut]:
    return await _page(session, principal, page, "application", application_id)
