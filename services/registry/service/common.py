"""What the registry's services share: today's date, the scope check for writes, and
the community a new record belongs to."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import clock
from services.common.errors import FieldError, NotFound, Unprocessable
from services.registry import repository, rules
from services.registry.models import Area


def today() -> date:
    return clock.today()


def require_reach(principal: Principal, code: str) -> None:
    """Writing under a code outside the caller's scope: as if it did not exist."""
    if not principal.reaches(code):
        raise NotFound()


async def community_for_write(
    session: AsyncSession, principal: Principal, code: str, field: str
) -> Area:
    """The community a new record belongs to: it must exist, be a community-level area and
    lie inside the caller's scope."""
    area = await repository.area(session, code)
    if area is None or not principal.reaches(code):
        raise Unprocessable(
            "validation.area_not_found", errors=[FieldError(field, "area_not_found")]
        )
    if area.level != "community":
        raise Unprocessable(
            "validation.not_a_community", errors=[FieldError(field, "not_a_community")]
        )
    return area


def area_filter(code: str | None) -> str | None:
    """An area code given as a filter (``?community=``) as the prefix of everything below it."""
    return rules.area_prefix(code) if code else None
