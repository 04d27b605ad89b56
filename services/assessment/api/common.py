"""What the assessment service's route modules share: the router, the permissions routes ask
for, paging, and the answers more than one module gives."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment.models import Agreement, Application
from services.assessment.schemas import (
    AgreementOut,
    ApplicationEventOut,
    ApplicationOut,
    PledgeOut,
)
from services.assessment.service import agreements, applications
from services.common.auth import Principal, require
from services.common.clock import clock
from services.common.database import TransactionalRoute
from services.common.pagination import PageParams, page_params

Paging = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Principal, Depends(require("assessment:read"))]
Manager = Annotated[Principal, Depends(require("assessment:manage"))]
Configurer = Annotated[Principal, Depends(require("assessment:configure"))]

AGREEMENT_FIELDS = (
    "id",
    "root_id",
    "version",
    "unit_id",
    "unit_name",
    "community_code",
    "title",
    "term_start",
    "term_end",
    "unit_signed_at",
    "community_signed_at",
    "terminated_reason",
)


def make_router() -> APIRouter:
    return APIRouter(
        prefix="/api/v1/assessment", tags=["assessment"], route_class=TransactionalRoute
    )


async def agreements_out(session: AsyncSession, rows: list[Agreement]) -> list[AgreementOut]:
    """A page of agreements with their pledges, read in one query."""
    pledges = await agreements.pledges_by_agreement(session, rows)
    today = clock.today()
    return [
        AgreementOut(
            **{k: getattr(a, k) for k in AGREEMENT_FIELDS},
            status=agreements.effective_status(a, today),
            pledges=[PledgeOut.model_validate(p, from_attributes=True) for p in pledges[a.id]],
        )
        for a in rows
    ]


async def agreement_out(session: AsyncSession, agreement: Agreement) -> AgreementOut:
    return (await agreements_out(session, [agreement]))[0]


async def application_out(session: AsyncSession, application: Application) -> ApplicationOut:
    history = await applications.history(session, application.id)
    return ApplicationOut(
        id=application.id,
        community_code=application.community_code,
        year=application.year,
        status=application.status,
        statement=application.statement,
        attachments=application.attachments,
        score=application.score,
        history=[ApplicationEventOut.model_validate(e, from_attributes=True) for e in history],
    )
