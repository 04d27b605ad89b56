"""Residents: validated on the way in, masked on the way out, revealed only with a reason
and audited; and the tags the services act on."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request, Response

from services.common.auth import Principal, require
from services.common.database import SessionDep
from services.common.http import with_etag
from services.common.pagination import Page
from services.common.validators import AreaCodeStr, IdNumberStr, MobileStr
from services.registry import rules
from services.registry.api.common import (
    Admin,
    Paging,
    Reader,
    Writer,
    make_router,
    resident_answer,
    residents_out,
)
from services.registry.schemas import (
    AuditEntryOut,
    MoveOut,
    ResidentCreate,
    ResidentOut,
    ResidentPatch,
    RevealOut,
    RevealRequest,
    TagCreate,
    TagOut,
)
from services.registry.service import residents as service

router = make_router()

Auditor = Annotated[Principal, Depends(require("audit:read"))]


@router.post("/residents", status_code=201)
async def create_resident(
    body: ResidentCreate, request: Request, session: SessionDep, principal: Writer
) -> ResidentOut:
    resident = await service.create_resident(
        session=session, principal=principal, cipher=request.app.state.cipher, data=body
    )
    return await resident_answer(session, principal, resident)


@router.get("/residents")
async def list_residents(
    request: Request,
    session: SessionDep,
    principal: Reader,
    page: Paging,
    community: AreaCodeStr | None = Query(
        default=None, description="an area code: everything below it"
    ),
    q: str | None = Query(
        default=None, min_length=1, max_length=50, description="any part of the name"
    ),
    phone: MobileStr | None = Query(default=None, description="exact"),
    id_number: IdNumberStr | None = Query(default=None, description="exact"),
    tag: str | None = Query(
        default=None,
        max_length=32,
        description="a tag's code or name (elderly or 老年人); floating / 流动人口 / 流动 too",
    ),
    building_id: str | None = Query(default=None, max_length=36),
    household_id: str | None = Query(default=None, max_length=36),
    residence_type: Literal["registered", "permanent", "floating"] | None = None,
    status: Literal["current", "moved_out", "all"] = "current",
) -> Page[ResidentOut]:
    rows, cursor = await service.list_residents(
        session=session,
        principal=principal,
        cipher=request.app.state.cipher,
        page=page,
        community=community,
        q=q,
        phone=phone,
        id_number=id_number,
        tag=tag,
        building_id=building_id,
        household_id=household_id,
        residence_type=residence_type,
        status=status,
    )
    return Page(items=await residents_out(session, principal, rows), next_cursor=cursor)


@router.get("/residents/{resident_id}")
async def get_resident(
    resident_id: str, request: Request, response: Response, session: SessionDep, principal: Reader
) -> ResidentOut:
    resident = await service.get_resident(
        session=session, principal=principal, resident_id=resident_id
    )
    return with_etag(request, response, await resident_answer(session, principal, resident))


@router.patch("/residents/{resident_id}")
async def patch_resident(
    resident_id: str, body: ResidentPatch, request: Request, session: SessionDep, principal: Writer
) -> ResidentOut:
    resident = await service.patch_resident(
        session=session,
        principal=principal,
        cipher=request.app.state.cipher,
        resident_id=resident_id,
        data=body,
    )
    return await resident_answer(session, principal, resident)


@router.post("/residents/{resident_id}/move-out")
async def move_out(
    resident_id: str, body: MoveOut, session: SessionDep, principal: Writer
) -> ResidentOut:
    """Residents are never deleted: moving out keeps the record and its history."""
    resident = await service.move_out(
        session=session, principal=principal, resident_id=resident_id, data=body
    )
    return await resident_answer(session, principal, resident)


@router.post("/residents/{resident_id}/reveal")
async def reveal_resident(
    resident_id: str,
    body: RevealRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Reader,
) -> RevealOut:
    """The full ID number and phone, for callers with ``pii:read``, with a reason; audited.
    The answer is never stored (no-store): not by a cache, not as an idempotent replay."""
    response.headers["Cache-Control"] = "no-store"
    return RevealOut(
        **await service.reveal(
            session=session,
            principal=principal,
            cipher=request.app.state.cipher,
            resident_id=resident_id,
            data=body,
        )
    )


@router.get("/audit-log")
async def audit_log(
    session: SessionDep,
    page: Paging,
    principal: Auditor,
    subject_id: str | None = Query(default=None, max_length=36),
) -> Page[AuditEntryOut]:
    """Every unmasked read of personal data inside the caller's scope, newest first."""
    rows, cursor = await service.list_audit(
        session=session, principal=principal, page=page, subject_id=subject_id
    )
    return Page(
        items=[AuditEntryOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=cursor,
    )


@router.get("/tags")
async def list_tags(session: SessionDep, principal: Reader) -> list[TagOut]:
    """The tags, in code order, and after them floating population, which ``?tag=`` and the
    import's tag column take by these names too."""
    code, name = rules.FLOATING_TAG
    return [
        *(
            TagOut.model_validate(t, from_attributes=True)
            for t in await service.list_tags(session=session)
        ),
        TagOut(code=code, name=name, builtin=True, residence_type=rules.FLOATING),
    ]


@router.post("/tags", status_code=201)
async def create_tag(body: TagCreate, session: SessionDep, principal: Admin) -> TagOut:
    """A deployment-defined tag (the built-in ones cover seeds 000 and 003)."""
    return TagOut.model_validate(
        await service.create_tag(session=session, data=body), from_attributes=True
    )
