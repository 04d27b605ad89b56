"""Co-building agreements, their fulfilment records, and the facilities units open."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response

from services.assessment.api.common import Manager, Paging, Reader, make_router
from services.assessment.schemas import (
    AgreementCreate,
    AgreementOut,
    FacilityOut,
    RecordIn,
    RecordOut,
    ReviewIn,
    SignIn,
    TerminateIn,
)
from services.assessment.service import agreements
from services.common.auth import PrincipalDep
from services.common.database import SessionDep
from services.common.geo import AnswerCoords, Near, near_query
from services.common.http import with_etag
from services.common.pagination import Page
from services.common.peers import forward_token
from services.common.validators import AreaCodeStr

router = make_router()


@router.post("/agreements", status_code=201)
async def create_agreement(
    body: AgreementCreate, request: Request, session: SessionDep, principal: Reader
) -> AgreementOut:
    """A draft between a unit (from the registry) and a community, with measurable pledges
    in the six joint areas; active once both sides sign."""
    agreement = await agreements.create_agreement(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        token=forward_token(request),
        data=body,
    )
    return await agreements.agreement_view(session=session, agreement=agreement)


@router.get("/agreements")
async def list_agreements(
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = None,
    unit_id: str | None = Query(default=None, max_length=36),
) -> Page[AgreementOut]:
    rows, cursor = await agreements.list_agreements(
        session=session, principal=principal, page=page, community=community, unit_id=unit_id
    )
    items = await agreements.agreement_views(session=session, agreements=rows)
    return Page(items=items, next_cursor=cursor)


@router.get("/agreements/{agreement_id}")
async def get_agreement(
    agreement_id: str, request: Request, response: Response, session: SessionDep, principal: Reader
) -> AgreementOut:
    agreement = await agreements.get_agreement(
        session=session, principal=principal, agreement_id=agreement_id
    )
    view = await agreements.agreement_view(session=session, agreement=agreement)
    return with_etag(request, response, view)


@router.post("/agreements/{agreement_id}/sign")
async def sign(
    agreement_id: str, body: SignIn, session: SessionDep, principal: Reader
) -> AgreementOut:
    agreement = await agreements.sign(
        session=session, principal=principal, agreement_id=agreement_id, party=body.party
    )
    return await agreements.agreement_view(session=session, agreement=agreement)


@router.post("/agreements/{agreement_id}/amend", status_code=201)
async def amend(
    agreement_id: str,
    body: AgreementCreate,
    request: Request,
    session: SessionDep,
    principal: Reader,
) -> AgreementOut:
    """A new version, to be signed again; the old one stays in force until then."""
    agreement = await agreements.amend(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        token=forward_token(request),
        agreement_id=agreement_id,
        data=body,
    )
    return await agreements.agreement_view(session=session, agreement=agreement)


@router.post("/agreements/{agreement_id}/terminate")
async def terminate(
    agreement_id: str, body: TerminateIn, session: SessionDep, principal: Reader
) -> AgreementOut:
    agreement = await agreements.terminate(
        session=session, principal=principal, agreement_id=agreement_id, reason=body.reason
    )
    return await agreements.agreement_view(session=session, agreement=agreement)


@router.post("/agreements/{agreement_id}/records", status_code=201)
async def add_record(
    agreement_id: str, body: RecordIn, request: Request, session: SessionDep, principal: Reader
) -> RecordOut:
    record = await agreements.add_record(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        agreement_id=agreement_id,
        data=body,
    )
    return RecordOut.model_validate(record, from_attributes=True)


@router.get("/agreements/{agreement_id}/records")
async def list_records(
    agreement_id: str, session: SessionDep, principal: Reader, page: Paging
) -> Page[RecordOut]:
    rows, cursor = await agreements.list_records(
        session=session, principal=principal, agreement_id=agreement_id, page=page
    )
    return Page(
        items=[RecordOut.model_validate(r, from_attributes=True) for r in rows], next_cursor=cursor
    )


@router.post("/records/{record_id}/confirm")
async def confirm_record(
    record_id: str, session: SessionDep, principal: Manager, body: ReviewIn | None = None
) -> RecordOut:
    """Confirming needs no words: the body, and its note, are optional."""
    record = await agreements.review_record(
        session=session,
        principal=principal,
        record_id=record_id,
        confirm=True,
        note=body.note if body else None,
    )
    return RecordOut.model_validate(record, from_attributes=True)


@router.post("/records/{record_id}/dispute")
async def dispute_record(
    record_id: str, body: ReviewIn, session: SessionDep, principal: Manager
) -> RecordOut:
    record = await agreements.review_record(
        session=session, principal=principal, record_id=record_id, confirm=False, note=body.note
    )
    return RecordOut.model_validate(record, from_attributes=True)


@router.get("/facilities")
async def facilities(
    session: SessionDep,
    principal: PrincipalDep,
    page: Paging,
    near: Annotated[Near | None, Depends(near_query)],
    community: AreaCodeStr | None = None,
    coord_system: AnswerCoords = "wgs84",
) -> Page[FacilityOut]:
    """Facilities the units pledged to open, while their agreements hold: what residents
    can use. With ``lat`` and ``lng``: those within ``radius`` metres in any community,
    nearest first, each with its ``distance_m``; otherwise a ``community``'s."""
    items, cursor = await agreements.facilities(
        session=session, page=page, community=community, near=near, system=coord_system
    )
    return Page(items=items, next_cursor=cursor)
