"""Co-building agreements, their records and meetings; indicators and scores computed from
every service's figures in one batched call each; model-community applications."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment import rules
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
from services.assessment.schemas import (
    AgreementCreate,
    ApplicationIn,
    IndicatorIn,
    MeetingIn,
    RecordIn,
)
from services.common.auth import Principal
from services.common.clients.grid import GridClient
from services.common.clients.registry import RegistryClient, UnitRef
from services.common.clients.volunteer import VolunteerClient
from services.common.clock import clock
from services.common.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Unprocessable,
)
from services.common.ids import new_id
from services.common.periods import Period, parse_period, period_or_422, quarters_in
from services.common.scope import prefix_clause, scope_clause
from services.common.settings import Settings
from services.common.validators import significant_prefix

OPEN_APPLICATION = ("submitted", "recommended")


def effective_status(agreement: Agreement, today: date) -> str:
    """Expiry is automatic: an active agreement past its term reads as expired."""
    if agreement.status == "active" and agreement.term_end < today:
        return "expired"
    return agreement.status


# --- agreements ----------------------------------------------------------------------------


def agreements_in_scope(principal: Principal):
    if principal.has_role("unit_contact") and not principal.unrestricted:
        return Agreement.unit_id == (principal.unit_id or "")
    return scope_clause(Agreement.community_code, principal)


async def get_agreement(
    session: AsyncSession, principal: Principal, agreement_id: str
) -> Agreement:
    agreement = await session.scalar(
        select(Agreement).where(Agreement.id == agreement_id, agreements_in_scope(principal))
    )
    if agreement is None:
        raise NotFound()
    return agreement


def _unit_not_found() -> Unprocessable:
    return Unprocessable("validation.not_found", errors=[FieldError("unit_id", "not_found")])


async def _unit(peers, token, unit_id: str) -> UnitRef:
    """The unit as the caller may see it: one outside their reach is no unit at all."""
    return await RegistryClient(peers, token=token).unit(
        unit_id=unit_id, errors={404: _unit_not_found, 403: _unit_not_found}
    )


async def create_agreement(
    *,
    session: AsyncSession,
    principal: Principal,
    peers,
    token,
    data: AgreementCreate,
    root: Agreement | None = None,
) -> Agreement:
    if (
        principal.has_role("unit_contact")
        and principal.unit_id != data.unit_id
        and not principal.unrestricted
    ):
        raise NotFound()
    if not principal.has_role("unit_contact") and not principal.reaches(data.community_code):
        raise NotFound()
    if data.term_end < data.term_start:
        raise Unprocessable(
            "validation.end_before_start", errors=[FieldError("term_end", "end_before_start")]
        )
    unit = await _unit(peers, token, data.unit_id)
    agreement = Agreement(
        id=new_id(),
        root_id=root.root_id if root else "",
        version=root.version + 1 if root else 1,
        unit_id=data.unit_id,
        unit_name=unit.name,
        community_code=data.community_code,
        title=data.title,
        term_start=data.term_start,
        term_end=data.term_end,
        status="draft",
        created_by=principal.user_id,
    )
    agreement.root_id = agreement.root_id or agreement.id
    session.add(agreement)
    for pledge in data.pledges:
        session.add(Pledge(id=new_id(), agreement_id=agreement.id, **pledge.model_dump()))
    await session.flush()
    return agreement


async def sign(
    *, session: AsyncSession, principal: Principal, agreement_id: str, party: str
) -> Agreement:
    """Active once both sides have signed: the unit's contact and the community's admin."""
    agreement = await get_agreement(session, principal, agreement_id)
    if agreement.status != "draft":
        raise Conflict("agreement.not_draft")
    now = clock.now()
    if party == "unit":
        if principal.unit_id != agreement.unit_id:
            raise Forbidden("agreement.not_your_unit")
        agreement.unit_signed_by, agreement.unit_signed_at = principal.user_id, now
    else:
        if not (principal.has("assessment:manage") and principal.reaches(agreement.community_code)):
            raise Forbidden()
        agreement.community_signed_by, agreement.community_signed_at = principal.user_id, now
    if agreement.unit_signed_at and agreement.community_signed_at:
        agreement.status = "active"
        # An amendment takes over from the version before it.
        for older in (
            await session.scalars(
                select(Agreement).where(
                    Agreement.root_id == agreement.root_id,
                    Agreement.id != agreement.id,
                    Agreement.status == "active",
                )
            )
        ).all():
            older.status = "superseded"
    await session.flush()
    return agreement


async def terminate(
    *, session: AsyncSession, principal: Principal, agreement_id: str, reason: str
) -> Agreement:
    agreement = await get_agreement(session, principal, agreement_id)
    if agreement.status not in ("draft", "active"):
        raise Conflict("agreement.not_active")
    if not (principal.unit_id == agreement.unit_id or principal.has("assessment:manage")):
        raise Forbidden()
    agreement.status = "terminated"
    agreement.terminated_reason = reason
    agreement.terminated_at = clock.now()
    await session.flush()
    return agreement


async def add_record(
    *, session: AsyncSession, principal: Principal, agreement_id: str, data: RecordIn
) -> FulfilmentRecord:
    agreement = await get_agreement(session, principal, agreement_id)
    if effective_status(agreement, data.day) not in ("active",) and agreement.status != "active":
        raise Conflict("agreement.not_active")
    pledge = await session.get(Pledge, data.pledge_id)
    if pledge is None or pledge.agreement_id != agreement.id:
        raise Unprocessable("validation.not_found", errors=[FieldError("pledge_id", "not_found")])
    if not (principal.unit_id == agreement.unit_id or principal.has("assessment:manage")):
        raise Forbidden()
    record = FulfilmentRecord(
        id=new_id(),
        pledge_id=pledge.id,
        agreement_id=agreement.id,
        unit_id=agreement.unit_id,
        community_code=agreement.community_code,
        day=data.day,
        quantity=data.quantity,
        participants=data.participants,
        description=data.description,
        evidence=data.evidence,
        created_by=principal.user_id,
    )
    session.add(record)
    await session.flush()
    return record


async def review_record(
    *, session: AsyncSession, principal: Principal, record_id: str, confirm: bool, note: str | None
) -> FulfilmentRecord:
    """Two-way evaluation 双向评议: the community confirms or disputes what the unit recorded;
    only confirmed records count."""
    record = await session.get(FulfilmentRecord, record_id)
    if (
        record is None
        or not principal.reaches(record.community_code)
        or principal.has_role("unit_contact")
    ):
        raise NotFound()
    if not principal.has("assessment:manage"):
        raise Forbidden()
    if record.status != "submitted":
        raise Conflict("record.reviewed")
    record.status = "confirmed" if confirm else "disputed"
    record.review_note = note
    record.reviewed_by = principal.user_id
    await session.flush()
    return record


async def add_meeting(*, session: AsyncSession, principal: Principal, data: MeetingIn) -> Meeting:
    if not principal.reaches(data.community_code):
        raise NotFound()
    meeting = Meeting(id=new_id(), created_by=principal.user_id, **data.model_dump())
    session.add(meeting)
    await session.flush()
    return meeting


# --- indicators ----------------------------------------------------------------------------


async def indicators_for(session: AsyncSession, period: Period) -> list[Indicator]:
    """Each indicator's version in force at the period's start."""
    rows = (
        await session.scalars(
            select(Indicator)
            .where(Indicator.valid_from <= period.start)
            .order_by(Indicator.code, Indicator.valid_from.desc())
        )
    ).all()
    chosen: dict[str, Indicator] = {}
    for row in rows:
        chosen.setdefault(row.code, row)
    return [chosen[c] for c in sorted(chosen)]


async def put_indicators(
    *, session: AsyncSession, principal: Principal, items: list[IndicatorIn]
) -> list[Indicator]:
    """New versions from a period on; what was in force before keeps applying to earlier
    periods."""
    out = []
    for item in items:
        start = period_or_422(item.valid_from).start
        existing = await session.scalar(
            select(Indicator).where(Indicator.code == item.code, Indicator.valid_from == start)
        )
        values = item.model_dump(exclude={"valid_from"})
        if existing is not None:
            for name, value in values.items():
                setattr(existing, name, value)
            existing.created_by = principal.user_id
            out.append(existing)
        else:
            row = Indicator(id=new_id(), valid_from=start, created_by=principal.user_id, **values)
            session.add(row)
            out.append(row)
    await session.flush()
    return out


# --- scores --------------------------------------------------------------------------------


async def _gather(peers, area: str, period: Period) -> dict[str, dict[str, Any]]:
    """Every community's figures under ``area``, one call per service. A service that is
    down makes the scores a 503, never a community failing an indicator it may pass."""
    level = "community" if len(significant_prefix(area)) < 12 else None
    stats = await RegistryClient(peers).children_figures(
        area=area, level=level, errors={404: NotFound}
    )
    communities = stats.children if stats.children else [stats.area]
    figures: dict[str, dict[str, Any]] = {}
    for c in communities:
        if c.level != "community":
            continue
        row = {
            "name": c.name,
            "residents": c.residents,
            "households": c.households,
            "party_members": c.party_members,
        }
        row.update(c.profile or {})
        figures[c.code] = row
    if not figures and stats.area.level == "community":
        a = stats.area
        figures[a.code] = {
            "name": a.name,
            "residents": a.residents,
            "households": a.households,
            "party_members": a.party_members,
        }
    rates = await VolunteerClient(peers).registration_rates(area=area, level=level)
    for row in rates.children or [rates]:
        if row.area in figures:
            figures[row.area]["volunteers"] = row.volunteers
    kpis = await GridClient(peers).case_kpis(area=area, period=period.label, group_by="community")
    for row in kpis:
        if row.code in figures:
            figures[row.code].update(
                cases=row.cases,
                closed=row.closed,
                on_time_close_rate=row.on_time_close_rate,
                overdue=row.overdue,
            )
    return figures


async def _co_building(
    session: AsyncSession, prefix: str, period: Period
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for community, n in await session.execute(
        select(Meeting.community_code, func.count())
        .where(
            prefix_clause(Meeting.community_code, prefix),
            Meeting.day >= period.start,
            Meeting.day < period.end,
        )
        .group_by(Meeting.community_code)
    ):
        out.setdefault(community, {})["meetings"] = n
    quarters = len(quarters_in(period))
    for community, values in (await pledge_table(session, prefix, period, quarters)).items():
        mean = sum(values, Fraction(0)) / len(values)
        out.setdefault(community, {})["pledge_fulfilment"] = Decimal(mean.numerator) / Decimal(
            mean.denominator
        )
    return out


async def pledge_table(
    session: AsyncSession, prefix: str, period: Period, quarters: int, by: str = "community"
) -> dict[str, list[Fraction]]:
    """Fulfilment of each pledge of an agreement in force in the period, keyed by community
    (or unit)."""
    agreements = (
        await session.scalars(
            select(Agreement).where(
                prefix_clause(Agreement.community_code, prefix),
                Agreement.status.in_(("active", "terminated", "superseded")),
                Agreement.community_signed_at.is_not(None),
                Agreement.unit_signed_at.is_not(None),
                Agreement.term_start < period.end,
                Agreement.term_end >= period.start,
            )
        )
    ).all()
    if not agreements:
        return {}
    ids = [a.id for a in agreements]
    pledges = (await session.scalars(select(Pledge).where(Pledge.agreement_id.in_(ids)))).all()
    achieved = dict(
        (
            await session.execute(
                select(FulfilmentRecord.pledge_id, func.sum(FulfilmentRecord.quantity))
                .where(
                    FulfilmentRecord.agreement_id.in_(ids),
                    FulfilmentRecord.status == "confirmed",
                    FulfilmentRecord.day >= period.start,
                    FulfilmentRecord.day < period.end,
                )
                .group_by(FulfilmentRecord.pledge_id)
            )
        ).all()
    )
    by_agreement = {a.id: a for a in agreements}
    out: dict[str, list[Fraction]] = {}
    for pledge in pledges:
        agreement = by_agreement[pledge.agreement_id]
        key = agreement.community_code if by == "community" else agreement.unit_id
        out.setdefault(key, []).append(
            rules.pledge_fulfilment(
                pledge.target_quantity, pledge.per, quarters, Decimal(achieved.get(pledge.id) or 0)
            )
        )
    return out


async def compute_scores(
    *, session: AsyncSession, principal: Principal, peers, area: str, period: Period
) -> list[dict[str, Any]]:
    prefix = significant_prefix(area)
    if not principal.reaches(prefix):
        raise NotFound()
    figures = await _gather(peers, area, period)
    co_building = await _co_building(session, prefix, period)
    indicators = await indicators_for(session, period)
    quarters = len(quarters_in(period))
    total_weight = sum((Fraction(i.weight) for i in indicators), Fraction(0)) or Fraction(1)
    rows = []
    for code in sorted(figures):
        data = {**figures[code], **co_building.get(code, {})}
        data.setdefault("meetings", 0)
        values, earned = [], Fraction(0)
        for indicator in indicators:
            result = rules.evaluate(indicator, data, quarters)
            if result.passed:
                earned += Fraction(indicator.weight)
            values.append(
                {
                    "code": indicator.code,
                    "name": indicator.name,
                    "value": rules.as_number(result.value),
                    "numerator": rules.as_number(result.numerator),
                    "denominator": rules.as_number(result.denominator),
                    "source": indicator.source,
                    "threshold": rules.as_number(result.threshold),
                    "comparator": indicator.comparator,
                    "passed": result.passed,
                    "weight": float(indicator.weight),
                }
            )
        rows.append(
            {
                "community_code": code,
                "name": data.get("name"),
                "indicators": values,
                "total": round(float(earned / total_weight * 100), 2),
            }
        )
    rows.sort(key=lambda r: (-r["total"], r["community_code"]))
    rank, previous = 0, None
    for position, row in enumerate(rows, start=1):
        if row["total"] != previous:
            rank, previous = position, row["total"]
        row["rank"] = rank
    return rows


async def latest_snapshot(session: AsyncSession, area: str, period: str) -> ScoreSnapshot | None:
    return await session.scalar(
        select(ScoreSnapshot)
        .where(ScoreSnapshot.area == area, ScoreSnapshot.period == period)
        .order_by(ScoreSnapshot.version.desc())
        .limit(1)
    )


async def publish(
    *, session: AsyncSession, principal: Principal, peers, area: str, period: Period
) -> ScoreSnapshot:
    rows = await compute_scores(
        session=session, principal=principal, peers=peers, area=area, period=period
    )
    previous = await latest_snapshot(session, area, period.label)
    snapshot = ScoreSnapshot(
        id=new_id(),
        area=area,
        period=period.label,
        version=(previous.version + 1) if previous else 1,
        payload={"communities": rows},
        published_by=principal.user_id,
    )
    session.add(snapshot)
    await session.flush()
    return snapshot


def scores_xlsx(area: str, period: str, rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("考核结果")
    names = [i["name"] for i in rows[0]["indicators"]] if rows else []
    ws.append(["区划", period])
    ws.append(["排名", "社区代码", "社区", "总分", *names])
    for row in rows:
        ws.append(
            [
                row["rank"],
                row["community_code"],
                row["name"],
                row["total"],
                *[
                    ("✓ " if i["passed"] else "✗ ")
                    + ("" if i["value"] is None else str(i["value"]))
                    for i in row["indicators"]
                ],
            ]
        )
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def unit_scores(
    *, session: AsyncSession, principal: Principal, settings: Settings, area: str, period: Period
) -> list[dict[str, Any]]:
    """Units ranked by pledge fulfilment: the responsibility evaluation of resident units."""
    prefix = significant_prefix(area)
    if not principal.reaches(prefix):
        raise NotFound()
    quarters = len(quarters_in(period))
    table = await pledge_table(session, prefix, period, quarters, by="unit")
    names = dict(
        (
            await session.execute(
                select(Agreement.unit_id, Agreement.unit_name).where(
                    Agreement.unit_id.in_(list(table))
                )
            )
        ).all()
    )
    rows = []
    for unit_id, values in table.items():
        mean = sum(values, Fraction(0)) / len(values)
        score = round(float(mean * 100), 2)
        rows.append(
            {
                "unit_id": unit_id,
                "unit_name": names.get(unit_id, ""),
                "pledges": len(values),
                "fulfilment": round(float(mean), 4),
                "score": score,
                "advanced_candidate": score >= settings.assessment_advanced_unit_score,
                "flagged": score < settings.assessment_unit_flag_below,
                "by_pledge": [round(float(v), 4) for v in values],
            }
        )
    rows.sort(key=lambda r: (-r["score"], r["unit_id"]))
    for position, row in enumerate(rows, start=1):
        row["rank"] = position
        row["by_pledge"] = [{"fulfilment": v} for v in row["by_pledge"]]
    return rows


# --- model-community applications ----------------------------------------------------------


async def submit_application(
    *, session: AsyncSession, principal: Principal, peers, data: ApplicationIn
) -> Application:
    level = rules.level_of(principal.scope, principal.unrestricted, data.community_code)
    if level is None:
        raise NotFound()
    if level != "community" or not principal.has("assessment:submit"):
        raise Forbidden("application.wrong_level")
    open_one = await session.scalar(
        select(Application.id).where(
            Application.community_code == data.community_code,
            Application.year == data.year,
            Application.status.in_(OPEN_APPLICATION),
        )
    )
    if open_one is not None:
        raise Conflict("application.open_exists", extra={"application_id": open_one})
    period = parse_period(str(data.year))
    rows = await compute_scores(
        session=session, principal=principal, peers=peers, area=data.community_code, period=period
    )
    application = Application(
        id=new_id(),
        community_code=data.community_code,
        year=data.year,
        status="submitted",
        statement=data.statement,
        attachments=data.attachments,
        score=rows[0] if rows else {},
        created_by=principal.user_id,
    )
    session.add(application)
    session.add(
        ApplicationEvent(
            id=new_id(),
            application_id=application.id,
            action="submit",
            from_status=None,
            to_status="submitted",
            actor_id=principal.user_id,
        )
    )
    await session.flush()
    return application


async def step_application(
    *,
    session: AsyncSession,
    principal: Principal,
    application_id: str,
    action: str,
    note: str | None,
) -> Application:
    """Street recommends or rejects a submitted one; district approves or rejects a
    recommended one. Each step only at its level."""
    application = await session.get(Application, application_id)
    if application is None or not principal.reaches(application.community_code):
        raise NotFound()
    level = rules.level_of(principal.scope, principal.unrestricted, application.community_code)
    expected = {"submitted": "street", "recommended": "district"}.get(application.status)
    allowed = {"submitted": ["recommend", "reject"], "recommended": ["approve", "reject"]}.get(
        application.status, []
    )
    if action not in allowed:
        raise Conflict("application.illegal_step", extra={"allowed": allowed})
    if level != expected:
        raise Forbidden("application.wrong_level")
    old = application.status
    application.status = {"recommend": "recommended", "approve": "approved", "reject": "rejected"}[
        action
    ]
    session.add(
        ApplicationEvent(
            id=new_id(),
            application_id=application.id,
            action=action,
            from_status=old,
            to_status=application.status,
            actor_id=principal.user_id,
            note=note,
        )
    )
    await session.flush()
    return application


async def application_history(session: AsyncSession, application_id: str) -> list[ApplicationEvent]:
    return list(
        (
            await session.scalars(
                select(ApplicationEvent)
                .where(ApplicationEvent.application_id == application_id)
                .order_by(ApplicationEvent.at, ApplicationEvent.id)
            )
        ).all()
    )
