"""What the assessment service's route modules share: the router and the permissions and
paging routes ask for."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.common.auth import Principal, require
from services.common.database import TransactionalRoute
from services.common.pagination import PageParams, page_params

Paging = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Principal, Depends(require("assessment:read"))]
Manager = Annotated[Principal, Depends(require("assessment:manage"))]
Configurer = Annotated[Principal, Depends(require("assessment:configure"))]


def make_router() -> APIRouter:
    return APIRouter(
        prefix="/api/v1/assessment", tags=["assessment"], route_class=TransactionalRoute
    )
