"""Indicators 考核指标 as versioned data: each cites its seed, and a new version applies from
its period on while earlier periods keep theirs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment import repository
from services.assessment.models import Indicator
from services.assessment.schemas import IndicatorIn
from services.common.auth import Principal
from services.common.ids import new_id
from services.common.periods import Period, period_or_422


async def indicators_for(*, session: AsyncSession, period: Period) -> list[Indicator]:
    """Each indicator's version in force at the period's start."""
    chosen: dict[str, Indicator] = {}
    for row in await repository.indicator_versions_from(session=session, start=period.start):
        chosen.setdefault(row.code, row)
    return [chosen[c] for c in sorted(chosen)]


async def put_indicators(
    *, session: AsyncSession, principal: Principal, items: list[IndicatorIn]
) -> list[Indicator]:
    """New versions from a period on; what was in force before keeps applying to earlier
    periods."""
    out = []
    for item in items:
        start = period_or_422(item.valid_from, "valid_from").start
        existing = await repository.indicator_version(session=session, code=item.code, start=start)
        values = item.model_dump(exclude={"valid_from"})
        if existing is not None:
            for name, value in values.items():
                setattr(existing, name, value)
            existing.created_by = principal.user_id
            out.append(existing)
        else:
            row = Indicator(id=new_id(), valid_from=start, created_by=principal.user_id, **values)
            # saved at once: a later item of the same batch for the same code and period
            # finds it and updates it rather than adding a second version
            await repository.save(session=session, rows=[row])
            out.append(row)
    await repository.save(session=session)
    return out
