"""Model-community applications and their steps."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from services.assessment.api.common import Paging, Reader, make_router
from services.assessment.schemas import (
    APPLICATION_YEARS,
    ApplicationIn,
    ApplicationOut,
    ApplicationStep,
)
from services.assessment.service import applications
from services.common.database import SessionDep
from services.common.pagination import Page

router = make_router()


@router.post("/applications", status_code=201)
async def submit_application(
    body: ApplicationIn, request: Request, session: SessionDep, principal: Reader
) -> ApplicationOut:
    """A community applies to be a model community (示范社区) with its score for the year."""
    application = await applications.submit_application(
        session=session, principal=principal, peers=request.app.state.peers, data=body
    )
    return await applications.application_view(session=session, application=application)


@router.get("/applications")
async def list_applications(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    year: Annotated[int | None, Query(**APPLICATION_YEARS)] = None,
) -> Page[ApplicationOut]:
    rows, cursor = await applications.list_applications(
        session=session, principal=principal, page=page, year=year
    )
    items = await applications.application_views(session=session, applications=rows)
    return Page(items=items, next_cursor=cursor)


@router.get("/applications/{application_id}")
async def get_application(
    application_id: str, session: SessionDep, principal: Reader
) -> ApplicationOut:
    application = await applications.get_application(
        session=session, principal=principal, application_id=application_id
    )
    return await applications.application_view(session=session, application=application)


@router.post("/applications/{application_id}/transitions")
async def step_application(
    application_id: str, body: ApplicationStep, session: SessionDep, principal: Reader
) -> ApplicationOut:
    application = await applications.step_application(
        session=session,
        principal=principal,
        application_id=application_id,
        action=body.action,
        note=body.note,
    )
    return await applications.application_view(session=session, application=application)
