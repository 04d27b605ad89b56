"""Each record's change history: who changed it (id and name), when, which fields, the
personal data masked; readable by whoever may read the record."""

from __future__ import annotations

from services.common.auth import PrincipalDep
from services.common.database import SessionDep
from services.common.history import HistoryEntryOut, history_pages
from services.common.pagination import Page
from services.registry.api.common import Paging, Reader, make_router
from services.registry.service import history as service

router = make_router()


_page = history_pages(service.read, service.LABELS)


@router.get("/areas/{code}/history")
async def area_history(
    code: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[HistoryEntryOut]:
    return await _page(session, principal, page, "area", code)


@router.get("/buildings/{building_id}/history")
async def building_history(
    building_id: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[HistoryEntryOut]:
    """A deleted building's history stays, for whoever reaches where it stood."""
    return await _page(session, principal, page, "building", building_id)


@router.get("/households/{household_id}/history")
async def household_history(
    household_id: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[HistoryEntryOut]:
    return await _page(session, principal, page, "household", household_id)


@router.get("/residents/{resident_id}/history")
async def resident_history(
    resident_id: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[HistoryEntryOut]:
    """Moving out is in it: who, when, and why."""
    return await _page(session, principal, page, "resident", resident_id)


@router.get("/units/{unit_id}/history")
async def unit_history(
    unit_id: str, session: SessionDep, principal: PrincipalDep, page: Paging
) -> Page[HistoryEntryOut]:
    """A unit's contact reads their own unit's, as they read the unit."""
    return await _page(session, principal, page, "unit", unit_id)
