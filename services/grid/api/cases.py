"""Incident cases 事件: report, workflow, deadlines, KPIs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request, Response

from services.common.auth import Principal, PrincipalDep, require
from services.common.clock import clock, local_zone
from services.common.database import SessionDep
from services.common.errors import NotFound
from services.common.geo import AnswerCoords
from services.common.http import with_etag
from services.common.pagination import Page
from services.common.peers import forward_token
from services.common.periods import period_or_422
from services.common.validators import AreaCodeStr
from services.grid import repository
from services.grid.api.common import Paging, Reader, case_out, category_names, make_router
from services.grid.schemas import CaseCreate, CaseOut, CategoryOut, HolidayIn, KpiOut, TransitionIn
from services.grid.service import cases as case_service

router = make_router()


@router.get("/case-categories")
async def categories(session: SessionDep, principal: PrincipalDep) -> list[CategoryOut]:
    return [
        CategoryOut.model_validate(c, from_attributes=True)
        for c in await repository.list_categories(session)
    ]


@router.post("/cases", status_code=201)
async def report_case(
    body: CaseCreate,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("grid:report"))],
) -> CaseOut:
    """The cell is found from the location; an open case of the same category within 50 m
    in the last 72 hours comes back in ``possible_duplicates`` (it does not block)."""
    state = request.app.state
    case, duplicates = await case_service.report_case(
        session=session,
        principal=principal,
        state=state.grid,
        database=state.database,
        peers=state.peers,
        data=body,
    )
    names = await category_names(session, [case])
    return case_out(case, clock.now(), principal, category_names=names, duplicates=duplicates)


@router.get("/cases")
async def list_cases(
    session: SessionDep,
    principal: PrincipalDep,
    page: Paging,
    status: Literal[
        "open", "reported", "accepted", "rejected", "dispatched", "handled", "verified", "closed"
    ]
    | None = None,
    overdue: bool | None = None,
    cell: str | None = Query(default=None, max_length=32),
    community: AreaCodeStr | None = None,
    category: str | None = Query(default=None, max_length=16),
    coord_system: AnswerCoords = "wgs84",
) -> Page[CaseOut]:
    now = clock.now()
    rows, cursor = await repository.list_cases(
        session,
        principal,
        page,
        status=status,
        overdue=overdue,
        cell=cell,
        community=community,
        category=category,
        now=now,
    )
    names = await category_names(session, rows)
    return Page(
        items=[
            case_out(c, now, principal, category_names=names, system=coord_system) for c in rows
        ],
        next_cursor=cursor,
    )


@router.get("/cases/kpis")
async def case_kpis(
    request: Request,
    session: SessionDep,
    principal: Reader,
    area: str = Query(pattern=r"^\d{2,20}$"),
    period: str = Query(max_length=10),
    group_by: Literal["cell", "community", "street"] = "community",
) -> KpiOut:
    """On-time close rate, median handling time (working hours), rework rate and overdue
    count per cell, community or street under ``area``."""
    parsed = period_or_422(period)
    from services.common.validators import significant_prefix

    prefix = significant_prefix(area)
    if not principal.reaches(prefix):
        raise NotFound()
    calendar = await request.app.state.grid.current_calendar(request.app.state.database)
    start, end = parsed.bounds(local_zone())
    length = {
        "cell": 12 + request.app.state.settings.grid_cell_seq_digits,
        "community": 12,
        "street": 9,
    }[group_by]
    rows = await case_service.kpis(
        session=session,
        database=request.app.state.database,
        prefix=prefix,
        start=start,
        end=end,
        group_len=length,
        now=clock.now(),
        calendar=calendar,
    )
    return KpiOut(area=area, period=parsed.label, group_by=group_by, rows=rows)


@router.get("/cases/{case_id}")
async def get_case(
    case_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    coord_system: AnswerCoords = "wgs84",
) -> CaseOut:
    case = await repository.case(session, principal, case_id)
    if case is None:
        raise NotFound()
    history = await repository.case_history(session, case.id)
    names = await category_names(session, [case])
    return with_etag(
        request,
        response,
        case_out(
            case,
            clock.now(),
            principal,
            category_names=names,
            system=coord_system,
            history=history,
        ),
    )


@router.post("/cases/{case_id}/transitions")
async def transition(
    case_id: str, body: TransitionIn, request: Request, session: SessionDep, principal: PrincipalDep
) -> CaseOut:
    """accept, reject, dispatch, handle, verify, return, close; request/approve/reject an
    extension; evaluate. An illegal step is a 409 that lists the allowed ones."""
    state = request.app.state
    case = await case_service.transition(
        session=session,
        principal=principal,
        state=state.grid,
        database=state.database,
        peers=state.peers,
        token=forward_token(request),
        case_id=case_id,
        data=body,
    )
    history = await repository.case_history(session, case.id)
    names = await category_names(session, [case])
    return case_out(case, clock.now(), principal, category_names=names, history=history)


@router.put("/holidays")
async def set_holidays(
    body: list[HolidayIn],
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("grid:calendar"))],
) -> list[HolidayIn]:
    """The deployment's holidays and make-up working days, which deadlines skip or count."""
    await case_service.set_holidays(session=session, days=body)
    request.app.state.grid.holidays_changed_with(session, body)
    return body
