"""Every query of the assessment service, and who may see what.

Scope, applied here from the caller's principal for every list and every get: staff see the
agreements, records, meetings, snapshots and applications of communities within their area
scope; a unit's contact sees their own unit's agreements and records (and nothing of other
units, whatever community they share). Facilities opened under an agreement in force are
public: residents are meant to find and use them, by community or around where they are.
A record outside the caller's reach is not found (None here, 404 on the wire), so ids
cannot be probed.

Pledges, confirmed quantities and an application's history are read only for parents that
were themselves read through scope; they say so in their docstrings.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, func, or_, select, tuple_, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment.models import (
    Agreement,
    Application,
    ApplicationEvent,
    Base,
    FulfilmentRecord,
    Indicator,
    Meeting,
    Pledge,
    ScoreSnapshot,
    change_history,
)
from services.common.auth import Principal
from services.common.database import one_of
from services.common.geo import box_around, nearness, nearness_bound
from services.common.history import history_page
from services.common.pagination import PageParams, decode_cursor, encode_cursor, paginate
from services.common.periods import Period
from services.common.scope import prefix_clause, scope_clause
from services.common.validators import significant_prefix

OPEN_APPLICATION = ("submitted", "recommended")
IN_FORCE_ONCE = ("active", "terminated", "superseded")


# --- writes --------------------------------------------------------------------------------


async def save(*, session: AsyncSession, rows: Iterable[Base] = ()) -> None:
    """Inserts the new rows and writes every change made to rows already read; the
    request's transaction commits them (services flush, never commit)."""
    session.add_all(list(rows))
    await session.flush()


# --- who sees what -------------------------------------------------------------------------


def confined_unit(principal: Principal) -> str | None:
    """The unit a unit's contact is confined to ("" when the account names none, which
    reaches nothing); None for staff, who are scoped by area."""
    if principal.has_role("unit_contact") and not principal.unrestricted:
        return principal.unit_id or ""
    return None


def agreements_in_scope(principal: Principal) -> ColumnElement[bool]:
    unit = confined_unit(principal)
    if unit is not None:
        return Agreement.unit_id == unit
    return scope_clause(Agreement.community_code, principal)


def records_in_scope(principal: Principal) -> ColumnElement[bool]:
    unit = confined_unit(principal)
    if unit is not None:
        return FulfilmentRecord.unit_id == unit
    return scope_clause(FulfilmentRecord.community_code, principal)


# --- agreements, pledges, records ----------------------------------------------------------


async def agreement(
    *, session: AsyncSession, principal: Principal, agreement_id: str
) -> Agreement | None:
    return await session.scalar(
        select(Agreement).where(Agreement.id == agreement_id, agreements_in_scope(principal))
    )


async def list_agreements(
    *,
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    community_prefix: str | None,
    unit_id: str | None,
) -> tuple[list[Agreement], str | None]:
    stmt = select(Agreement).where(agreements_in_scope(principal))
    if community_prefix:
        stmt = stmt.where(prefix_clause(Agreement.community_code, community_prefix))
    if unit_id:
        stmt = stmt.where(Agreement.unit_id == unit_id)
    return await paginate(session, stmt, [Agreement.id], page)


async def other_active_versions(*, session: AsyncSession, agreement: Agreement) -> list[Agreement]:
    """The versions in force that a newly signed version of ``agreement`` (read through
    scope) replaces."""
    rows = await session.scalars(
        select(Agreement).where(
            Agreement.root_id == agreement.root_id,
            Agreement.id != agreement.id,
            Agreement.status == "active",
        )
    )
    return list(rows.all())


async def pledges_of(*, session: AsyncSession, agreement_ids: list[str]) -> list[Pledge]:
    """The pledges of agreements read through scope, in a stable order."""
    if not agreement_ids:
        return []
    rows = await session.scalars(
        select(Pledge)
        .where(one_of(session, Pledge.agreement_id, agreement_ids))
        .order_by(Pledge.id)
    )
    return list(rows.all())


async def pledge(*, session: AsyncSession, agreement_id: str, pledge_id: str) -> Pledge | None:
    """A pledge of the agreement (read through scope); another agreement's is no pledge."""
    return await session.scalar(
        select(Pledge).where(Pledge.id == pledge_id, Pledge.agreement_id == agreement_id)
    )


async def agreement_and_pledge(
    *, session: AsyncSession, record: FulfilmentRecord
) -> tuple[Agreement, Pledge]:
    """The agreement and pledge a record (read through scope) is against, in one query."""
    row = (
        await session.execute(
            select(Agreement, Pledge)
            .join(Pledge, Pledge.agreement_id == Agreement.id)
            .where(Agreement.id == record.agreement_id, Pledge.id == record.pledge_id)
        )
    ).one()
    return row[0], row[1]


async def record_for_review(
    *, session: AsyncSession, principal: Principal, record_id: str
) -> FulfilmentRecord | None:
    """A record the community side may confirm or dispute: within staff scope, never a
    unit's own contact (two-way evaluation: the other side judges)."""
    if principal.has_role("unit_contact"):
        return None
    return await session.scalar(
        select(FulfilmentRecord).where(
            FulfilmentRecord.id == record_id,
            scope_clause(FulfilmentRecord.community_code, principal),
        )
    )


async def list_records(
    *, session: AsyncSession, principal: Principal, agreement_id: str, page: PageParams
) -> tuple[list[FulfilmentRecord], str | None]:
    stmt = select(FulfilmentRecord).where(
        FulfilmentRecord.agreement_id == agreement_id, records_in_scope(principal)
    )
    return await paginate(session, stmt, [FulfilmentRecord.id], page)


def _in_force(principal: Principal, prefix: str, period: Period) -> tuple:
    """Agreements signed by both sides whose term meets the period, under ``prefix`` and in
    the caller's scope: what the figures of a period count, agreements and pledges alike."""
    return (
        prefix_clause(Agreement.community_code, prefix),
        scope_clause(Agreement.community_code, principal),
        Agreement.status.in_(IN_FORCE_ONCE),
        Agreement.community_signed_at.is_not(None),
        Agreement.unit_signed_at.is_not(None),
        Agreement.term_start < period.end,
        Agreement.term_end >= period.start,
    )


async def agreements_in_force(
    *, session: AsyncSession, principal: Principal, prefix: str, period: Period
) -> list[Agreement]:
    """Agreements signed by both sides whose term meets the period, within the caller's
    area scope. By area, for a unit's contact too: a community's figures and the ranking of
    its units are made of every unit's pledges; the service decides which rows a unit's
    contact then reads."""
    rows = await session.scalars(select(Agreement).where(*_in_force(principal, prefix, period)))
    return list(rows.all())


async def pledge_progress(
    *, session: AsyncSession, principal: Principal, prefix: str, period: Period
) -> list[Any]:
    """Every pledge of an agreement in force in the period (as ``agreements_in_force``
    reads them), as plain rows: its agreement's community, what it asks (target, per,
    unit) and the quantity of its confirmed records dated in the period, summed by the
    database."""
    done = (
        select(FulfilmentRecord.pledge_id, func.sum(FulfilmentRecord.quantity).label("done"))
        .where(
            FulfilmentRecord.status == "confirmed",
            FulfilmentRecord.day >= period.start,
            FulfilmentRecord.day < period.end,
        )
        .group_by(FulfilmentRecord.pledge_id)
        .subquery()
    )
    stmt = (
        select(
            Agreement.community_code,
            Pledge.target_quantity,
            Pledge.per,
            Pledge.target_unit,
            done.c.done,
        )
        .join(Pledge, Pledge.agreement_id == Agreement.id)
        .outerjoin(done, done.c.pledge_id == Pledge.id)
        .where(*_in_force(principal, prefix, period))
    )
    return list((await session.execute(stmt)).all())


async def confirmed_quantities(
    *, session: AsyncSession, agreement_ids: list[str], period: Period
) -> dict[str, Decimal]:
    """Per pledge of agreements read through scope, the quantity of confirmed records dated
    in the period."""
    rows = await session.execute(
        select(FulfilmentRecord.pledge_id, func.sum(FulfilmentRecord.quantity))
        .where(
            one_of(session, FulfilmentRecord.agreement_id, agreement_ids),
            FulfilmentRecord.status == "confirmed",
            FulfilmentRecord.day >= period.start,
            FulfilmentRecord.day < period.end,
        )
        .group_by(FulfilmentRecord.pledge_id)
    )
    return {pledge_id: Decimal(q or 0) for pledge_id, q in rows.all()}


async def confirmed_in_periods(
    *, session: AsyncSession, pledges_by_period: dict[Period, list[str]]
) -> dict[str, Decimal]:
    """Per pledge (of agreements read through scope), the quantity of confirmed records
    dated in the period it is listed under; one query, whatever the periods."""
    windows = [
        and_(
            one_of(session, FulfilmentRecord.pledge_id, ids),
            FulfilmentRecord.day >= period.start,
            FulfilmentRecord.day < period.end,
        )
        for period, ids in pledges_by_period.items()
        if ids
    ]
    if not windows:
        return {}
    rows = await session.execute(
        select(FulfilmentRecord.pledge_id, func.sum(FulfilmentRecord.quantity))
        .where(FulfilmentRecord.status == "confirmed", or_(*windows))
        .group_by(FulfilmentRecord.pledge_id)
    )
    return {pledge_id: Decimal(q or 0) for pledge_id, q in rows.all()}


async def unit_names(*, session: AsyncSession, unit_ids: list[str]) -> dict[str, str]:
    """The names of units whose agreements were read through scope."""
    if not unit_ids:
        return {}
    rows = await session.execute(
        select(Agreement.unit_id, Agreement.unit_name).where(
            one_of(session, Agreement.unit_id, unit_ids)
        )
    )
    return dict(rows.all())


def _facilities_open(today: date):
    return (
        select(Agreement, Pledge)
        .join(Pledge, Pledge.agreement_id == Agreement.id)
        .where(
            Agreement.status == "active",
            Agreement.term_start <= today,
            Agreement.term_end >= today,
            Pledge.facility_name.is_not(None),
        )
    )


async def facilities_open(
    *, session: AsyncSession, community: str, today: date, page: PageParams
) -> tuple[list[tuple[Agreement, Pledge]], str | None]:
    """Public: facilities pledged under a community's agreements in force on ``today`` (a
    local date), by unit and name; the cursor is the last one's unit name, name and id."""
    key = [Agreement.unit_name, Pledge.facility_name, Pledge.id]
    stmt = _facilities_open(today).where(Agreement.community_code == community)
    if page.cursor:
        stmt = stmt.where(tuple_(*key) > tuple_(*decode_cursor(page.cursor, key)))
    rows = (await session.execute(stmt.order_by(*key).limit(page.limit + 1))).all()
    items = [(a, p) for a, p in rows[: page.limit]]
    if len(rows) <= page.limit:
        return items, None
    a, p = items[-1]
    return items, encode_cursor([a.unit_name, p.facility_name, p.id])


async def facilities_near(
    *,
    session: AsyncSession,
    today: date,
    lat: float,
    lng: float,
    radius_m: float,
    community: str | None,
    page: PageParams,
) -> tuple[list[tuple[Agreement, Pledge]], str | None]:
    """Public: facilities open on ``today`` within ``radius_m`` of a WGS-84 point, nearest
    first, in any community (or in ``community``); the cursor is the last one's nearness
    and id."""
    near = nearness(Pledge.facility_lat, Pledge.facility_lng, lat, lng)
    south, north, west, east = box_around(lat, lng, radius_m)
    stmt = _facilities_open(today).where(
        Pledge.facility_lat.between(south, north),
        Pledge.facility_lng.between(west, east),
        near <= nearness_bound(radius_m),
    )
    if community:
        stmt = stmt.where(Agreement.community_code == community)
    key = [type_coerce(near, Float), Pledge.id]
    if page.cursor:
        stmt = stmt.where(tuple_(*key) > tuple_(*decode_cursor(page.cursor, key)))
    stmt = stmt.add_columns(near).order_by(*key).limit(page.limit + 1)
    rows = (await session.execute(stmt)).all()
    items = [(a, p) for a, p, _ in rows[: page.limit]]
    if len(rows) <= page.limit:
        return items, None
    return items, encode_cursor([rows[page.limit - 1][2], items[-1][1].id])


# --- meetings ------------------------------------------------------------------------------


async def list_meetings(
    *,
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    community_prefix: str | None,
) -> tuple[list[Meeting], str | None]:
    stmt = select(Meeting).where(scope_clause(Meeting.community_code, principal))
    if community_prefix:
        stmt = stmt.where(prefix_clause(Meeting.community_code, community_prefix))
    return await paginate(session, stmt, [Meeting.id], page)


async def meetings_by_community(
    *, session: AsyncSession, principal: Principal, prefix: str, period: Period
) -> dict[str, int]:
    rows = await session.execute(
        select(Meeting.community_code, func.count())
        .where(
            prefix_clause(Meeting.community_code, prefix),
            scope_clause(Meeting.community_code, principal),
            Meeting.day >= period.start,
            Meeting.day < period.end,
        )
        .group_by(Meeting.community_code)
    )
    return dict(rows.all())


# --- indicators and snapshots --------------------------------------------------------------


async def indicator_versions_from(*, session: AsyncSession, start: date) -> list[Indicator]:
    """Every version valid from ``start`` or before, newest first within each code.
    Indicators are the deployment's standards, the same for every caller."""
    rows = await session.scalars(
        select(Indicator)
        .where(Indicator.valid_from <= start)
        .order_by(Indicator.code, Indicator.valid_from.desc())
    )
    return list(rows.all())


async def indicator_version(*, session: AsyncSession, code: str, start: date) -> Indicator | None:
    return await session.scalar(
        select(Indicator).where(Indicator.code == code, Indicator.valid_from == start)
    )


async def latest_snapshot(
    *, session: AsyncSession, principal: Principal, area: str, period: str
) -> ScoreSnapshot | None:
    """The latest published scores of ``area``, when the caller reaches everything under
    it (a snapshot holds every community of the area)."""
    if not principal.reaches(significant_prefix(area)):
        return None
    return await session.scalar(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.area == area, ScoreSnapshot.period == period)
        .order_by(ScoreSnapshot.version.desc())
        .limit(1)
    )


async def add_snapshot(
    *, session: AsyncSession, snapshot: ScoreSnapshot, attempts: int = 25
) -> bool:
    """Insert ``snapshot`` as the next version of its area and period (the caller has been
    checked to publish it). The version is the latest + 1, held by the unique index on
    (area, period, version): a publish that meets another's version waits for it, rolls
    back to its savepoint and takes the one after. False if it lost every attempt."""
    for _ in range(attempts):
        latest = await session.scalar(
            select(func.max(ScoreSnapshot.version)).where(
                ScoreSnapshot.area == snapshot.area, ScoreSnapshot.period == snapshot.period
            )
        )
        snapshot.version = (latest or 0) + 1
        try:
            async with session.begin_nested():
                session.add(snapshot)
        except IntegrityError:
            continue
        return True
    return False


# --- model-community applications ----------------------------------------------------------


async def open_application(*, session: AsyncSession, community: str, year: int) -> str | None:
    """The id of the community's application still under way that year, whoever may see
    it: one at a time, whoever asks (the caller has been checked to act for the
    community)."""
    return await session.scalar(
        select(Application.id).where(
            Application.community_code == community,
            Application.year == year,
            Application.status.in_(OPEN_APPLICATION),
        )
    )


async def approved_application(*, session: AsyncSession, community: str, year: int) -> str | None:
    """The community's application approved for that year, if there is one."""
    return await session.scalar(
        select(Application.id).where(
            Application.community_code == community,
            Application.year == year,
            Application.status == "approved",
        )
    )


async def add_application(*, session: AsyncSession, rows: Iterable[Base]) -> bool:
    """Insert a new application with its first step; False when another application of the
    community and year is under way already (the partial unique index ``uq_applications_open``
    decides, so two sent at once cannot both be taken)."""
    try:
        async with session.begin_nested():
            session.add_all(list(rows))
    except IntegrityError:
        return False
    return True


async def application(
    *, session: AsyncSession, principal: Principal, application_id: str
) -> Application | None:
    return await session.scalar(
        select(Application).where(
            Application.id == application_id,
            scope_clause(Application.community_code, principal),
        )
    )


async def list_applications(
    *, session: AsyncSession, principal: Principal, page: PageParams, year: int | None
) -> tuple[list[Application], str | None]:
    stmt = select(Application).where(scope_clause(Application.community_code, principal))
    if year:
        stmt = stmt.where(Application.year == year)
    return await paginate(session, stmt, [Application.id], page)


async def application_histories(
    *, session: AsyncSession, application_ids: list[str]
) -> dict[str, list[ApplicationEvent]]:
    """The steps of applications read through scope, oldest first, in one query."""
    out: dict[str, list[ApplicationEvent]] = {i: [] for i in application_ids}
    if not application_ids:
        return out
    rows = await session.scalars(
        select(ApplicationEvent)
        .where(one_of(session, ApplicationEvent.application_id, application_ids))
        .order_by(ApplicationEvent.at, ApplicationEvent.id)
    )
    for event in rows.all():
        out[event.application_id].append(event)
    return out


async def record(
    *, session: AsyncSession, principal: Principal, record_id: str
) -> FulfilmentRecord | None:
    """A fulfilment record the caller may read: their unit's, or within staff scope."""
    return await session.scalar(
        select(FulfilmentRecord).where(
            FulfilmentRecord.id == record_id, records_in_scope(principal)
        )
    )


# --- change history: read through the record it belongs to (services.common.history) -------


async def history(
    *, session: AsyncSession, record_type: str, record_id: str, page: PageParams
) -> tuple[list[Any], str | None]:
    return await history_page(
        session, change_history, record_type=record_type, record_id=record_id, page=page
    )
