"""Indicator definitions, versioned by period."""

from __future__ import annotations

from fastapi import Query

from services.assessment.api.common import Configurer, Reader, make_router
from services.assessment.schemas import IndicatorIn, IndicatorOut
from services.assessment.service import indicators
from services.common.clock import clock
from services.common.database import SessionDep
from services.common.periods import period_or_422

router = make_router()


@router.get("/indicators")
async def get_indicators(
    session: SessionDep, principal: Reader, period: str | None = Query(default=None, max_length=8)
) -> list[IndicatorOut]:
    """The indicators in force for a period (default: this year), each citing its seed."""
    parsed = period_or_422(period or str(clock.today().year))
    return [
        IndicatorOut.model_validate(i, from_attributes=True)
        for i in await indicators.indicators_for(session=session, period=parsed)
    ]


@router.put("/indicators")
async def put_indicators(
    body: list[IndicatorIn], session: SessionDep, principal: Configurer
) -> list[IndicatorOut]:
    """New versions from ``valid_from`` on; earlier periods keep the versions they had."""
    rows = await indicators.put_indicators(session=session, principal=principal, items=body)
    return [IndicatorOut.model_validate(i, from_attributes=True) for i in rows]
