"""Household visits 入户走访."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from services.common.auth import Principal, require
from services.common.database import SessionDep
from services.common.pagination import Page
from services.common.peers import forward_token
from services.grid import repository
from services.grid.api.common import Paging, Reader, make_router
from services.grid.schemas import VisitCreate, VisitOut
from services.grid.service import visits as visit_service

router = make_router()


@router.post("/visits", status_code=201)
async def create_visit(
    body: VisitCreate,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("grid:visit"))],
) -> VisitOut:
    """A visit, possibly made offline and posted later with its own id and an
    Idempotency-Key. Whether the phone was inside the cell is kept, not where it was."""
    state = request.app.state
    visit = await visit_service.create_visit(
        session=session,
        principal=principal,
        state=state.grid,
        database=state.database,
        peers=state.peers,
        token=forward_token(request),
        data=body,
    )
    return VisitOut.model_validate(visit, from_attributes=True)


@router.get("/visits")
async def list_visits(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    cell: str | None = Query(default=None, max_length=32),
    household_id: str | None = Query(default=None, max_length=36),
    worker_id: str | None = Query(default=None, max_length=36),
) -> Page[VisitOut]:
    """Newest first."""
    rows, cursor = await repository.list_visits(
        session, principal, page, cell=cell, household_id=household_id, worker_id=worker_id
    )
    return Page(
        items=[VisitOut.model_validate(v, from_attributes=True) for v in rows], next_cursor=cursor
    )


@router.get("/finding-tags")
async def finding_tags(session: SessionDep, principal: Reader) -> list[dict]:
    return [{"code": t.code, "name": t.name} for t in await repository.list_findings(session)]
