"""What the grid's route modules share."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, require
from services.common.database import TransactionalRoute
from services.common.geo import geojson_out, point_out
from services.common.pagination import PageParams, page_params
from services.grid import repository
from services.grid.models import Case, CaseEvent, Cell, CellMember
from services.grid.schemas import CaseEventOut, CaseOut, CellOut, DuplicateOut, MemberOut
from services.grid.service.cases import my_actions
from services.grid.service.state import GridState
from services.grid.workflow import (
    ACTION_NAMES,
    OPEN_STATUSES,
    PRIORITY_NAMES,
    STATUS_NAMES,
    allowed_actions,
)

Paging = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Principal, Depends(require("grid:read"))]
Writer = Annotated[Principal, Depends(require("grid:write"))]


def make_router() -> APIRouter:
    return APIRouter(prefix="/api/v1/grid", tags=["grid"], route_class=TransactionalRoute)


def grid_state(request: Request) -> GridState:
    return request.app.state.grid


def cell_out(cell: Cell, members: list[CellMember] | None = None, system: str = "wgs84") -> CellOut:
    boundary = geojson_out(cell.boundary, system)  # type: ignore[arg-type]
    return CellOut(
        code=cell.code,
        community_code=cell.community_code,
        name=cell.name,
        kind=cell.kind,
        dedicated_to=cell.dedicated_to,
        household_target=cell.household_target,
        responsible=cell.responsible,
        boundary=boundary,
        coord_system=system,  # type: ignore[arg-type]
        valid_from=cell.valid_from,
        valid_to=cell.valid_to,
        members=[
            MemberOut(user_id=m.user_id, role=m.role, display_name=m.display_name)
            for m in members or []
        ],
        updated_at=cell.updated_at,
    )


async def category_names(session: AsyncSession, cases: Iterable[Case]) -> dict[str, str]:
    """The names of the categories of ``cases``, read once for a whole answer."""
    return await repository.category_names(session, {c.category_code for c in cases})


def status_name(status: str | None) -> str | None:
    return None if status is None else STATUS_NAMES.get(status, status)


def event_out(event: CaseEvent) -> CaseEventOut:
    return CaseEventOut.model_validate(event, from_attributes=True).model_copy(
        update={
            "action_name": ACTION_NAMES.get(event.action, event.action),
            "from_status_name": status_name(event.from_status),
            "to_status_name": status_name(event.to_status),
        }
    )


def case_out(
    case: Case,
    now,
    principal: Principal,
    *,
    category_names: Mapping[str, str],
    system: str = "wgs84",
    history: list[CaseEvent] | None = None,
    duplicates=None,
) -> CaseOut:
    lat, lng = point_out(case.lat, case.lng, system)  # type: ignore[arg-type]
    allowed = allowed_actions(case.status, extension_pending=case.extension_hours is not None)
    return CaseOut(
        id=case.id,
        category_code=case.category_code,
        category_name=category_names.get(case.category_code, case.category_code),
        description=case.description,
        address=case.address,
        lat=lat,
        lng=lng,
        coord_system=system,  # type: ignore[arg-type]
        cell_code=case.cell_code,
        community_code=case.community_code,
        source=case.source,
        photos=case.photos,
        priority=case.priority,
        priority_name=PRIORITY_NAMES.get(case.priority, case.priority),
        status=case.status,
        status_name=STATUS_NAMES.get(case.status, case.status),
        step=case.step,
        deadline_at=case.deadline_at,
        overdue=bool(case.status in OPEN_STATUSES and case.deadline_at and case.deadline_at < now),
        dispatched_to=case.dispatched_to,
        assignee_id=case.assignee_id,
        rework_count=case.rework_count,
        extension_pending=case.extension_hours is not None,
        rating=case.rating,
        allowed_actions=allowed,
        my_actions=my_actions(principal, case, allowed),
        created_at=case.created_at,
        updated_at=case.updated_at,
        closed_at=case.closed_at,
        history=[event_out(e) for e in history] if history is not None else None,
        possible_duplicates=[
            DuplicateOut(
                id=c.id,
                distance_m=d,
                status=c.status,
                status_name=STATUS_NAMES.get(c.status, c.status),
                created_at=c.created_at,
            )
            for c, d in duplicates
        ]
        if duplicates is not None
        else None,
    )
