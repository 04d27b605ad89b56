"""Co-building agreements 共驻共建协议: a unit and a community, measurable pledges in the six
joint areas, active once both sides sign, amended by new versions, expiring by themselves;
and the records of what the unit did, counted once the community confirms them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment import repository, rules
from services.assessment.models import Agreement, FulfilmentRecord, Pledge, outbox
from services.assessment.schemas import (
    AgreementCreate,
    AgreementOut,
    FacilityOut,
    PledgeIn,
    PledgeOut,
    PledgeProgress,
    RecordIn,
)
from services.assessment.service import history
from services.common.auth import Principal
from services.common.clients.registry import RegistryClient, UnitRef
from services.common.clock import clock
from services.common.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from services.common.events import emit, settle_notices
from services.common.geo import CoordSystem, Near, in_china_box, point_out, to_wgs84
from services.common.ids import new_id
from services.common.pagination import PageParams
from services.common.periods import Period, parse_period
from services.common.uploads import attach_uploads
from services.common.validators import significant_prefix

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


def effective_status(agreement: Agreement, today: date) -> str:
    """Expiry is automatic: an active agreement past its term reads as expired. ``today``
    is the local date (``clock.today()``)."""
    if agreement.status == "active" and agreement.term_end < today:
        return "expired"
    return agreement.status


async def agreement_views(
    *, session: AsyncSession, agreements: list[Agreement]
) -> list[AgreementOut]:
    """Agreements as the wire shows them, with their pledges and each pledge's progress
    read in one query each, and their status as of today in the deployment's zone."""
    pledges = await pledges_by_agreement(session=session, agreements=agreements)
    today = clock.today()
    periods = {
        pledge.id: progress_period(agreement, pledge, today)
        for agreement in agreements
        for pledge in pledges[agreement.id]
    }
    by_period: dict[Period, list[str]] = {}
    for pledge_id, period in periods.items():
        by_period.setdefault(period, []).append(pledge_id)
    done = await repository.confirmed_in_periods(session=session, pledges_by_period=by_period)
    return [
        AgreementOut(
            **{k: getattr(a, k) for k in AGREEMENT_FIELDS},
            status=effective_status(a, today),
            pledges=[
                pledge_out(p, periods[p.id], done.get(p.id, Decimal(0))) for p in pledges[a.id]
            ],
        )
        for a in agreements
    ]


def progress_period(agreement: Agreement, pledge: Pledge, today: date) -> Period:
    """The pledge's period (``per``) holding today, or the term's nearest day when today is
    outside the term (a draft for next year shows its first period, an ended one its last)."""
    day = min(max(today, agreement.term_start), agreement.term_end)
    return parse_period(rules.period_of(pledge.per, day))


def pledge_out(pledge: Pledge, period: Period, done: Decimal) -> PledgeOut:
    # The pledge's own period asks its target (a weekly rate: every week of it).
    target = rules.pledge_required(
        pledge.target_quantity, pledge.per, rules.PER[pledge.per], pledge.target_unit
    )
    return PledgeOut.model_validate(
        {
            **PledgeIn.model_validate(pledge, from_attributes=True).model_dump(),
            "id": pledge.id,
            "target_unit_name": rules.target_unit_name(pledge.target_unit),
            "progress": PledgeProgress(
                period=period.label,
                period_name=period.name,
                done=float(done),
                target=float(target),
                unit_name=rules.counted_unit_name(pledge.target_unit),
                percent=rules.percent(Fraction(done), target),
            ),
        }
    )


async def agreement_view(*, session: AsyncSession, agreement: Agreement) -> AgreementOut:
    return (await agreement_views(session=session, agreements=[agreement]))[0]


async def get_agreement(
    *, session: AsyncSession, principal: Principal, agreement_id: str
) -> Agreement:
    agreement = await repository.agreement(
        session=session, principal=principal, agreement_id=agreement_id
    )
    if agreement is None:
        raise NotFound()
    return agreement


async def list_agreements(
    *,
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    community: str | None,
    unit_id: str | None,
) -> tuple[list[Agreement], str | None]:
    return await repository.list_agreements(
        session=session,
        principal=principal,
        page=page,
        community_prefix=significant_prefix(community) if community else None,
        unit_id=unit_id,
    )


async def pledges_by_agreement(
    *, session: AsyncSession, agreements: list[Agreement]
) -> dict[str, list[Pledge]]:
    out: dict[str, list[Pledge]] = {a.id: [] for a in agreements}
    for pledge in await repository.pledges_of(session=session, agreement_ids=list(out)):
        out[pledge.agreement_id].append(pledge)
    return out


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
    rows = [pledge_row(i, pledge) for i, pledge in enumerate(data.pledges)]
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
    pledges = [Pledge(id=new_id(), agreement_id=agreement.id, **row) for row in rows]
    await repository.save(session=session, rows=[agreement, *pledges])
    await history.changed(session, principal, "agreement", agreement, "created")
    # The other side is asked to sign; the side that drafted it signs when it will.
    other = "community" if principal.has_role("unit_contact") else "unit"
    await ask_to_sign(session, agreement, other)
    return agreement


def pledge_row(index: int, pledge: PledgeIn) -> dict:
    """A pledge's columns; a facility's place is both coordinates or neither, inside China,
    stored in WGS-84 whatever system it was given in."""
    row = pledge.model_dump(exclude={"coord_system"})
    lat, lng = pledge.facility_lat, pledge.facility_lng
    if (lat is None) != (lng is None):
        missing = "facility_lat" if lat is None else "facility_lng"
        raise Unprocessable(
            "validation.missing", errors=[FieldError(f"pledges[{index}].{missing}", "missing")]
        )
    if lat is not None and lng is not None:
        if not in_china_box(lat, lng):
            raise Unprocessable(
                "validation.outside_china",
                errors=[FieldError(f"pledges[{index}].facility_lat", "outside_china")],
            )
        row["facility_lat"], row["facility_lng"] = to_wgs84(lat, lng, pledge.coord_system)
    return row


async def ask_to_sign(session: AsyncSession, agreement: Agreement, party: str) -> None:
    """Tell one side an agreement waits for its signature (event
    ``assessment.agreement_to_sign``: the gateway's inbox)."""
    await emit(
        session,
        outbox,
        "assessment.agreement_to_sign",
        {
            "agreement_id": agreement.id,
            "unit_id": agreement.unit_id,
            "unit_name": agreement.unit_name,
            "title": agreement.title,
            "community_code": agreement.community_code,
            "waiting_for": party,
        },
    )


async def amend(
    *, session: AsyncSession, principal: Principal, peers, token, agreement_id: str, data
) -> Agreement:
    """A new version, to be signed again; the old one stays in force until then."""
    root = await get_agreement(session=session, principal=principal, agreement_id=agreement_id)
    return await create_agreement(
        session=session, principal=principal, peers=peers, token=token, data=data, root=root
    )


async def sign(
    *, session: AsyncSession, principal: Principal, agreement_id: str, party: str
) -> Agreement:
    """Active once both sides have signed: the unit's contact and the community's admin."""
    agreement = await get_agreement(session=session, principal=principal, agreement_id=agreement_id)
    if agreement.status != "draft":
        raise Conflict("agreement.not_draft")
    was = history.snapshot("agreement", agreement)
    now = clock.now()
    if party == "unit":
        if principal.unit_id != agreement.unit_id:
            raise Forbidden("agreement.not_your_unit")
        agreement.unit_signed_by, agreement.unit_signed_at = principal.user_id, now
        agreement.unit_signed_by_name = principal.name or None
    else:
        if not (principal.has("assessment:manage") and principal.reaches(agreement.community_code)):
            raise Forbidden()
        agreement.community_signed_by, agreement.community_signed_at = principal.user_id, now
        agreement.community_signed_by_name = principal.name or None
    if agreement.unit_signed_at and agreement.community_signed_at:
        agreement.status = "active"
        # An amendment takes over from the version before it.
        superseded = await repository.other_active_versions(session=session, agreement=agreement)
        for older in superseded:
            before = history.snapshot("agreement", older)
            older.status = "superseded"
            await history.changed(session, principal, "agreement", older, "superseded", before)
    await repository.save(session=session)
    await history.changed(session, principal, "agreement", agreement, "signed", was)
    await settle_notices(
        session, outbox, "assessment", "agreement", agreement.id, "agreement_to_sign"
    )
    if agreement.status == "draft":
        # One side has signed: the other is asked (again, if it drafted it; the inbox keeps
        # one unread request per agreement).
        await ask_to_sign(session, agreement, "community" if agreement.unit_signed_at else "unit")
    return agreement


async def terminate(
    *, session: AsyncSession, principal: Principal, agreement_id: str, reason: str
) -> Agreement:
    agreement = await get_agreement(session=session, principal=principal, agreement_id=agreement_id)
    if agreement.status not in ("draft", "active"):
        raise Conflict("agreement.not_active")
    if not (principal.unit_id == agreement.unit_id or principal.has("assessment:manage")):
        raise Forbidden()
    was = history.snapshot("agreement", agreement)
    agreement.status = "terminated"
    agreement.terminated_reason = reason
    agreement.terminated_at = clock.now()
    await repository.save(session=session)
    await history.changed(session, principal, "agreement", agreement, "terminated", was)
    await settle_notices(
        session, outbox, "assessment", "agreement", agreement.id, "agreement_to_sign"
    )
    return agreement


def check_record_day(agreement: Agreement, day: date, today: date) -> None:
    """What a unit did counts for its agreement only on a day of the term that has come."""
    if not agreement.term_start <= day <= agreement.term_end:
        raise Unprocessable(
            "validation.record_day",
            errors=[
                FieldError(
                    "day",
                    "outside_term",
                    {
                        "start": agreement.term_start.isoformat(),
                        "end": agreement.term_end.isoformat(),
                    },
                )
            ],
        )
    if day > today:
        raise Unprocessable(
            "validation.record_day",
            errors=[FieldError("day", "in_future", {"today": today.isoformat()})],
        )


async def add_record(
    *, session: AsyncSession, principal: Principal, peers, agreement_id: str, data: RecordIn
) -> FulfilmentRecord:
    agreement = await get_agreement(session=session, principal=principal, agreement_id=agreement_id)
    check_record_day(agreement, data.day, clock.today())
    if effective_status(agreement, data.day) not in ("active",) and agreement.status != "active":
        raise Conflict("agreement.not_active")
    pledge = await repository.pledge(
        session=session, agreement_id=agreement.id, pledge_id=data.pledge_id
    )
    if pledge is None:
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
    await attach_uploads(
        session=session,
        outbox=outbox,
        peers=peers,
        principal=principal,
        file_ids=data.evidence,
        field="evidence",
        area=agreement.community_code,
    )
    await repository.save(session=session, rows=[record])
    await history.changed(
        session,
        principal,
        "record",
        record,
        "created",
        subjects=history.record_subjects(agreement, pledge),
    )
    if not principal.has("assessment:manage"):
        await emit(
            session,
            outbox,
            "assessment.record_to_confirm",
            {
                "record_id": record.id,
                "agreement_id": agreement.id,
                "community_code": agreement.community_code,
                "unit_name": agreement.unit_name,
                "pledge": pledge.description,
                "day": record.day.isoformat(),
            },
        )
    return record


async def list_records(
    *, session: AsyncSession, principal: Principal, agreement_id: str, page: PageParams
) -> tuple[list[FulfilmentRecord], str | None]:
    agreement = await get_agreement(session=session, principal=principal, agreement_id=agreement_id)
    return await repository.list_records(
        session=session, principal=principal, agreement_id=agreement.id, page=page
    )


async def review_record(
    *, session: AsyncSession, principal: Principal, record_id: str, confirm: bool, note: str | None
) -> FulfilmentRecord:
    """Two-way evaluation 双向评议: the community confirms or disputes what the unit recorded;
    only confirmed records count."""
    record = await repository.record_for_review(
        session=session, principal=principal, record_id=record_id
    )
    if record is None:
        raise NotFound()
    if not principal.has("assessment:manage"):
        raise Forbidden()
    if record.status != "submitted":
        raise Conflict("record.reviewed")
    agreement, pledge = await repository.agreement_and_pledge(session=session, record=record)
    subjects = history.record_subjects(agreement, pledge)
    was = history.snapshot("record", record, subjects)
    record.status = "confirmed" if confirm else "disputed"
    record.review_note = note
    record.reviewed_by = principal.user_id
    record.reviewed_by_name = principal.name or None
    await repository.save(session=session)
    await history.changed(
        session, principal, "record", record, record.status, was, subjects=subjects
    )
    await settle_notices(session, outbox, "assessment", "record", record.id, "record_to_confirm")
    await emit(
        session,
        outbox,
        "assessment.record_reviewed",
        {
            "record_id": record.id,
            "unit_id": record.unit_id,
            "confirmed": confirm,
            "pledge": pledge.description,
            "day": record.day.isoformat(),
            "note": note,
        },
    )
    return record


async def facilities(
    *,
    session: AsyncSession,
    page: PageParams,
    community: str | None,
    near: Near | None,
    system: CoordSystem = "wgs84",
) -> tuple[list[FacilityOut], str | None]:
    """Facilities the units pledged to open, while their agreements hold (as of today in
    the deployment's zone): around a point, nearest first, in any community; or a
    community's, by unit and name."""
    today = clock.today()
    if near is not None:
        lat, lng = near.wgs84()
        rows, cursor = await repository.facilities_near(
            session=session,
            today=today,
            lat=lat,
            lng=lng,
            radius_m=near.radius_m,
            community=community,
            page=page,
        )
    elif community:
        rows, cursor = await repository.facilities_open(
            session=session, community=community, today=today, page=page
        )
    else:
        raise Unprocessable(
            "validation.missing",
            errors=[FieldError("community", "missing"), FieldError("lat", "missing")],
        )
    out = []
    for a, p in rows:
        lat, lng = point_out(p.facility_lat, p.facility_lng, system)
        out.append(
            FacilityOut(
                pledge_id=p.id,
                agreement_id=a.id,
                unit_id=a.unit_id,
                unit_name=a.unit_name,
                community_code=a.community_code,
                name=p.facility_name,
                capacity=p.facility_capacity,
                opening_hours=p.facility_hours,
                address=p.facility_address,
                lat=lat,
                lng=lng,
                coord_system=system,
                distance_m=near.distance_to(p.facility_lat, p.facility_lng) if near else None,
            )
        )
    return out, cursor
