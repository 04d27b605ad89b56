"""Every query of the assessment service, and who may see what.

Scope, applied here from the caller's principal for every list and every get: staff see the
agreements, records, meetings, snapshots and applications of communities within their area
scope; a unit's contact sees their own unit's agreements and records (and nothing of other
units, whatever community they share). Facilities opened under an agreement in force are
public: residents are meant to find and use them. A record outside the caller's reach is
not found (404), so ids cannot be probed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment.models import (
    Agreement,
    Application,
    ApplicationEvent,
    FulfilmentRecord,
    Indicator,
    Meeting,
    Pledge,
    ScoreSnapshot,
)
from services.common.auth import Principal
from services.common.pagination import PageParams, paginate
from services.common.periods import Period
from services.common.scope import prefix_clause, scope_clause

OPEN_APPLICATION = ("submitted", "recommended")
IN_FORCE_ONCE = ("active", "terminated", "superseded")


# --- agreements, pledges, records ----------------------------------------------------------


def agreements_in_scope(principal: Principal) -> ColumnElement[bool]:
    if principal.has_role("unit_contact") and not principal.unrestricted:
        return Agreement.unit_id == (principal.unit_id or "")
    return scope_clause(Agreement.community_code, principal)


async def agreement(
    session: AsyncSession, principal: Principal, agreement_id: str
) -> Agreement | None:
    return await session.scalar(
        select(Agreement).where(Agreement.id == agreement_id, agreements_in_scope(principal))
    )


async def list_agreements(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    community_prefix: str | None,
    unit_id: str | None,
) -> tuple[list[Agreement], str | None]:
    stmt = select(Agreement).where(agreements_in_scope(principal))
    if community_prefix:
        stmt = stmt.where(prefix_clause(Agreement.community_code, community_prefix))
    if unit_id:
        stmt = stmt.where(Agreement.unit_id == unit_id)
    return await paginate(session, stmt, [Agreement.id], page)


async def other_active_versions(session: AsyncSession, agreement: Agreement) -> list[Agreement]:
    rows = await session.scalars(
        select(Agreement).where(
            Agreement.root_id == agreement.root_id,
            Agreement.id != agreement.id,
            Agreement.status == "active",
        )
    )
    return list(rows.all())


async def pledges_of(session: AsyncSession, agreement_ids: list[str]) -> list[Pledge]:
    if not agreement_ids:
        return []
    rows = await session.scalars(
        select(Pledge).where(Pledge.agreement_id.in_(agreement_ids)).order_by(Pledge.id)
    )
    return list(rows.all())


async def pledge(session: AsyncSession, pledge_id: str) -> Pledge | None:
    return await session.get(Pledge, pledge_id)


async def record_for_review(
    session: AsyncSession, principal: Principal, record_id: str
) -> FulfilmentRecord | None:
    """A record the community side may confirm or dispute: within staff scope, never a
    unit's own contact (two-way evaluation: the other side judges)."""
    record = await session.get(FulfilmentRecord, record_id)
    if (
        record is None
        or not principal.reaches(record.community_code)
        or principal.has_role("unit_contact")
    ):
        return None
    return record


async def list_records(
    session: AsyncSession, agreement_id: str, page: PageParams
) -> tuple[list[FulfilmentRecord], str | None]:
    """The agreement has been checked to be within the caller's reach."""
    stmt = select(FulfilmentRecord).where(FulfilmentRecord.agreement_id == agreement_id)
    return await paginate(session, stmt, [FulfilmentRecord.id], page)


async def agreements_in_force(
    session: AsyncSession, prefix: str, period: Period
) -> list[Agreement]:
    """Agreements signed by both sides whose term meets the period."""
    rows = await session.scalars(
        select(Agreement).where(
            prefix_clause(Agreement.community_code, prefix),
            Agreement.status.in_(IN_FORCE_ONCE),
            Agreement.community_signed_at.is_not(None),
            Agreement.unit_signed_at.is_not(None),
            Agreement.term_start < period.end,
            Agreement.term_end >= period.start,
        )
    )
    return list(rows.all())


async def confirmed_quantities(
    session: AsyncSession, agreement_ids: list[str], period: Period
) -> dict[str, Decimal]:
    """Per pledge, the quantity of confirmed records dated in the period."""
    rows = await session.execute(
        select(FulfilmentRecord.pledge_id, func.sum(FulfilmentRecord.quantity))
        .where(
            FulfilmentRecord.agreement_id.in_(agreement_ids),
            FulfilmentRecord.status == "confirmed",
            FulfilmentRecord.day >= period.start,
            FulfilmentRecord.day < period.end,
        )
        .group_by(FulfilmentRecord.pledge_id)
    )
    return {pledge_id: Decimal(q or 0) for pledge_id, q in rows.all()}


async def unit_names(session: AsyncSession, unit_ids: list[str]) -> dict[str, str]:
    if not unit_ids:
        return {}
    rows = await session.execute(
        select(Agreement.unit_id, Agreement.unit_name).where(Agreement.unit_id.in_(unit_ids))
    )
    return dict(rows.all())


async def facilities_open(
    session: AsyncSession, community: str, today: date
) -> list[tuple[Agreement, Pledge]]:
    rows = await session.execute(
        select(Agreement, Pledge)
        .join(Pledge, Pledge.agreement_id == Agreement.id)
        .where(
            Agreement.community_code == community,
            Agreement.status == "active",
            Agreement.term_start <= today,
            Agreement.term_end >= today,
            Pledge.facility_name.is_not(None),
        )
        .order_by(Agreement.unit_name, Pledge.facility_name)
    )
    return [(a, p) for a, p in rows.all()]


# --- meetings ------------------------------------------------------------------------------


async def list_meetings(
    session: AsyncSession, principal: Principal, page: PageParams, *, community_prefix: str | None
) -> tuple[list[Meeting], str | None]:
    stmt = select(Meeting).where(scope_clause(Meeting.community_code, principal))
    if community_prefix:
        stmt = stmt.where(prefix_clause(Meeting.community_code, community_prefix))
    return await paginate(session, stmt, [Meeting.id], page)


async def meetings_by_community(
    session: AsyncSession, prefix: str, period: Period
) -> dict[str, int]:
    rows = await session.execute(
        select(Meeting.community_code, func.count())
        .where(
            prefix_clause(Meeting.community_code, prefix),
            Meeting.day >= period.start,
            Meeting.day < period.end,
        )
        .group_by(Meeting.community_code)
    )
    return dict(rows.all())


# --- indicators and snapshots --------------------------------------------------------------


async def indicator_versions_from(session: AsyncSession, start: date) -> list[Indicator]:
    """Every version valid from ``start`` or before, newest first within each code."""
    rows = await session.scalars(
        select(Indicator)
        .where(Indicator.valid_from <= start)
        .order_by(Indicator.code, Indicator.valid_from.desc())
    )
    return list(rows.all())


async def indicator_version(session: AsyncSession, code: str, start: date) -> Indicator | None:
    return await session.scalar(
        select(Indicator).where(Indicator.code == code, Indicator.valid_from == start)
    )


async def latest_snapshot(session: AsyncSession, area: str, period: str) -> ScoreSnapshot | None:
    return await session.scalar(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.area == area, ScoreSnapshot.period == period)
        .order_by(ScoreSnapshot.version.desc())
        .limit(1)
    )


# --- model-community applications ----------------------------------------------------------


async def open_application(session: AsyncSession, community: str, year: int) -> str | None:
    return await session.scalar(
        select(Application.id).where(
            Application.community_code == community,
            Application.year == year,
            Application.status.in_(OPEN_APPLICATION),
        )
    )


async def application(
    session: AsyncSession, principal: Principal, application_id: str
) -> Application | None:
    found = await session.get(Application, application_id)
    if found is None or not principal.reaches(found.community_code):
        return None
    return found


async def list_applications(
    session: AsyncSession, principal: Principal, page: PageParams, *, year: int | None
) -> tuple[list[Application], str | None]:
    stmt = select(Application).where(scope_clause(Application.community_code, principal))
    if year:
        stmt = stmt.where(Application.year == year)
    return await paginate(session, stmt, [Application.id], page)


async def application_history(session: AsyncSession, application_id: str) -> list[ApplicationEvent]:
    rows = await session.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == application_id)
        .order_by(ApplicationEvent.at, ApplicationEvent.id)
    )
    return list(rows.all())
