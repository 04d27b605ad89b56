"""The assessment service's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from services.assessment import service
from services.assessment.models import Agreement, Application, FulfilmentRecord, Meeting, Pledge
from services.assessment.schemas import (
    AgreementCreate,
    AgreementOut,
    ApplicationEventOut,
    ApplicationIn,
    ApplicationOut,
    ApplicationStep,
    FacilityOut,
    IndicatorIn,
    IndicatorOut,
    MeetingIn,
    MeetingOut,
    PledgeOut,
    PublishIn,
    RecordIn,
    RecordOut,
    ReviewIn,
    ScoresOut,
    SignIn,
    TerminateIn,
    UnitScoresOut,
)
from services.common.auth import Principal, PrincipalDep, require
from services.common.clock import clock
from services.common.database import SessionDep, TransactionalRoute
from services.common.errors import NotFound
from services.common.http import with_etag
from services.common.pagination import Page, PageParams, page_params, paginate
from services.common.peers import forward_token
from services.common.periods import period_or_422
from services.common.scope import prefix_clause, scope_clause
from services.common.validators import AreaCodeStr, significant_prefix

router = APIRouter(prefix="/api/v1/assessment", tags=["assessment"], route_class=TransactionalRoute)

Paging = Annotated[PageParams, Depends(page_params)]
Reader = Annotated[Principal, Depends(require("assessment:read"))]
Manager = Annotated[Principal, Depends(require("assessment:manage"))]


async def agreements_out(session, agreements: list[Agreement]) -> list[AgreementOut]:
    """A page of agreements with their pledges, read in one query."""
    pledges: dict[str, list[Pledge]] = {a.id: [] for a in agreements}
    if agreements:
        for pledge in await session.scalars(
            select(Pledge).where(Pledge.agreement_id.in_(list(pledges))).order_by(Pledge.id)
        ):
            pledges[pledge.agreement_id].append(pledge)
    today = clock.today()
    fields = (
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
    return [
        AgreementOut(
            **{k: getattr(a, k) for k in fields},
            status=service.effective_status(a, today),
            pledges=[PledgeOut.model_validate(p, from_attributes=True) for p in pledges[a.id]],
        )
        for a in agreements
    ]


async def agreement_out(session, agreement: Agreement) -> AgreementOut:
    return (await agreements_out(session, [agreement]))[0]


@router.post("/agreements", status_code=201)
async def create_agreement(
    body: AgreementCreate, request: Request, session: SessionDep, principal: Reader
) -> AgreementOut:
    """A draft between a unit (from the registry) and a community, with measurable pledges
    in the six joint areas; active once both sides sign."""
    agreement = await service.create_agreement(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        token=forward_token(request),
        data=body,
    )
    return await agreement_out(session, agreement)


@router.get("/agreements")
async def list_agreements(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = None,
    unit_id: str | None = Query(default=None, max_length=36),
) -> Page[AgreementOut]:
    stmt = select(Agreement).where(service.agreements_in_scope(principal))
    if community:
        stmt = stmt.where(prefix_clause(Agreement.community_code, significant_prefix(community)))
    if unit_id:
        stmt = stmt.where(Agreement.unit_id == unit_id)
    rows, cursor = await paginate(session, stmt, [Agreement.id], page)
    return Page(items=await agreements_out(session, rows), next_cursor=cursor)


@router.get("/agreements/{agreement_id}")
async def get_agreement(
    agreement_id: str, request: Request, response: Response, session: SessionDep, principal: Reader
) -> AgreementOut:
    out = await agreement_out(
        session, await service.get_agreement(session, principal, agreement_id)
    )
    return with_etag(request, response, out)


@router.post("/agreements/{agreement_id}/sign")
async def sign(
    agreement_id: str, body: SignIn, session: SessionDep, principal: Reader
) -> AgreementOut:
    return await agreement_out(
        session,
        await service.sign(
            session=session, principal=principal, agreement_id=agreement_id, party=body.party
        ),
    )


@router.post("/agreements/{agreement_id}/amend", status_code=201)
async def amend(
    agreement_id: str,
    body: AgreementCreate,
    request: Request,
    session: SessionDep,
    principal: Reader,
) -> AgreementOut:
    """A new version, to be signed again; the old one stays in force until then."""
    root = await service.get_agreement(session, principal, agreement_id)
    agreement = await service.create_agreement(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        token=forward_token(request),
        data=body,
        root=root,
    )
    return await agreement_out(session, agreement)


@router.post("/agreements/{agreement_id}/terminate")
async def terminate(
    agreement_id: str, body: TerminateIn, session: SessionDep, principal: Reader
) -> AgreementOut:
    return await agreement_out(
        session,
        await service.terminate(
            session=session, principal=principal, agreement_id=agreement_id, reason=body.reason
        ),
    )


@router.post("/agreements/{agreement_id}/records", status_code=201)
async def add_record(
    agreement_id: str, body: RecordIn, session: SessionDep, principal: Reader
) -> RecordOut:
    record = await service.add_record(
        session=session, principal=principal, agreement_id=agreement_id, data=body
    )
    return RecordOut.model_validate(record, from_attributes=True)


@router.get("/agreements/{agreement_id}/records")
async def list_records(
    agreement_id: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[RecordOut]:
    agreement = await service.get_agreement(session, principal, agreement_id)
    rows, cursor = await paginate(
        session,
        select(FulfilmentRecord).where(FulfilmentRecord.agreement_id == agreement.id),
        [FulfilmentRecord.id],
        page,
    )
    return Page(
        items=[RecordOut.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor
    )


@router.post("/records/{record_id}/confirm")
async def confirm_record(
    record_id: str, body: ReviewIn, session: SessionDep, principal: Manager
) -> RecordOut:
    record = await service.review_record(
        session=session, principal=principal, record_id=record_id, confirm=True, note=body.note
    )
    return RecordOut.model_validate(record, from_attributes=True)


@router.post("/records/{record_id}/dispute")
async def dispute_record(
    record_id: str, body: ReviewIn, session: SessionDep, principal: Manager
) -> RecordOut:
    record = await service.review_record(
        session=session, principal=principal, record_id=record_id, confirm=False, note=body.note
    )
    return RecordOut.model_validate(record, from_attributes=True)


@router.get("/facilities")
async def facilities(
    session: SessionDep, principal: PrincipalDep, community: AreaCodeStr
) -> list[FacilityOut]:
    """Facilities the units pledged to open, while their agreements hold: what residents
    can use."""
    today = clock.today()
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
    return [
        FacilityOut(
            agreement_id=a.id,
            unit_id=a.unit_id,
            unit_name=a.unit_name,
            community_code=a.community_code,
            name=p.facility_name,
            capacity=p.facility_capacity,
            opening_hours=p.facility_hours,
        )
        for a, p in rows
    ]


@router.post("/meetings", status_code=201)
async def add_meeting(body: MeetingIn, session: SessionDep, principal: Manager) -> MeetingOut:
    return MeetingOut.model_validate(
        await service.add_meeting(session=session, principal=principal, data=body),
        from_attributes=True,
    )


@router.get("/meetings")
async def list_meetings(
    session: SessionDep, principal: Reader, page: Paging, community: AreaCodeStr | None = None
) -> Page[MeetingOut]:
    stmt = select(Meeting).where(scope_clause(Meeting.community_code, principal))
    if community:
        stmt = stmt.where(prefix_clause(Meeting.community_code, significant_prefix(community)))
    rows, cursor = await paginate(session, stmt, [Meeting.id], page)
    return Page(
        items=[MeetingOut.model_validate(m, from_attributes=True) for m in rows], next_cursor=cursor
    )


@router.get("/indicators")
async def get_indicators(
    session: SessionDep, principal: Reader, period: str | None = Query(default=None, max_length=8)
) -> list[IndicatorOut]:
    """The indicators in force for a period (default: this year), each citing its seed."""
    parsed = period_or_422(period or str(clock.today().year))
    return [
        IndicatorOut.model_validate(i, from_attributes=True)
        for i in await service.indicators_for(session, parsed)
    ]


@router.put("/indicators")
async def put_indicators(
    body: list[IndicatorIn],
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("assessment:configure"))],
) -> list[IndicatorOut]:
    """New versions from ``valid_from`` on; earlier periods keep the versions they had."""
    rows = await service.put_indicators(session=session, principal=principal, items=body)
    return [IndicatorOut.model_validate(i, from_attributes=True) for i in rows]


@router.get("/scores")
async def scores(
    request: Request,
    session: SessionDep,
    principal: Reader,
    area: str = Query(pattern=r"^\d{12}$"),
    period: str = Query(max_length=8),
    live: bool = False,
) -> ScoresOut:
    """Every community under the area: each indicator's value, pass or fail, the weighted
    total and the rank. The published snapshot when there is one (``live=true`` for today's
    figures)."""
    parsed = period_or_422(period)
    if not live:
        snapshot = await service.latest_snapshot(session, area, parsed.label)
        if snapshot is not None:
            if not principal.reaches(significant_prefix(area)):
                raise NotFound()
            return ScoresOut(
                area=area,
                period=parsed.label,
                published=True,
                version=snapshot.version,
                published_at=snapshot.published_at,
                communities=snapshot.payload["communities"],
            )
    rows = await service.compute_scores(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        area=area,
        period=parsed,
    )
    return ScoresOut(area=area, period=parsed.label, published=False, communities=rows)


@router.post("/scores/publish", status_code=201)
async def publish(
    body: PublishIn, request: Request, session: SessionDep, principal: Manager
) -> ScoresOut:
    """Stores today's scores as the published ones; republishing makes a new version."""
    parsed = period_or_422(body.period)
    snapshot = await service.publish(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        area=body.area,
        period=parsed,
    )
    return ScoresOut(
        area=body.area,
        period=parsed.label,
        published=True,
        version=snapshot.version,
        published_at=snapshot.published_at,
        communities=snapshot.payload["communities"],
    )


@router.get("/scores.xlsx", response_class=Response)
async def scores_xlsx(
    request: Request,
    session: SessionDep,
    principal: Reader,
    area: str = Query(pattern=r"^\d{12}$"),
    period: str = Query(max_length=8),
) -> Response:
    result = await scores(request, session, principal, area, period)
    content = service.scores_xlsx(area, result.period, [c.model_dump() for c in result.communities])
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f'attachment; filename="scores-{area}-{result.period}.xlsx"'
        },
    )


@router.get("/unit-scores")
async def unit_scores(
    request: Request,
    session: SessionDep,
    principal: Reader,
    area: str = Query(pattern=r"^\d{12}$"),
    period: str = Query(max_length=8),
) -> UnitScoresOut:
    parsed = period_or_422(period)
    rows = await service.unit_scores(
        session=session,
        principal=principal,
        settings=request.app.state.settings,
        area=area,
        period=parsed,
    )
    return UnitScoresOut(area=area, period=parsed.label, units=rows)


async def application_out(session, application: Application) -> ApplicationOut:
    history = await service.application_history(session, application.id)
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


@router.post("/applications", status_code=201)
async def submit_application(
    body: ApplicationIn, request: Request, session: SessionDep, principal: Reader
) -> ApplicationOut:
    """A community applies to be a model community (示范社区) with its score for the year."""
    application = await service.submit_application(
        session=session, principal=principal, peers=request.app.state.peers, data=body
    )
    return await application_out(session, application)


@router.get("/applications")
async def list_applications(
    session: SessionDep, principal: Reader, page: Paging, year: int | None = None
) -> Page[ApplicationOut]:
    stmt = select(Application).where(scope_clause(Application.community_code, principal))
    if year:
        stmt = stmt.where(Application.year == year)
    rows, cursor = await paginate(session, stmt, [Application.id], page)
    return Page(items=[await application_out(session, a) for a in rows], next_cursor=cursor)


@router.post("/applications/{application_id}/transitions")
async def step_application(
    application_id: str, body: ApplicationStep, session: SessionDep, principal: Reader
) -> ApplicationOut:
    application = await service.step_application(
        session=session,
        principal=principal,
        application_id=application_id,
        action=body.action,
        note=body.note,
    )
    return await application_out(session, application)
