"""The gateway's own endpoints: login, tokens, the caller's account, staff accounts, files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, Response, UploadFile
from fastapi.responses import FileResponse, StreamingResponse

from gateway import files, repository, service
from gateway.middleware import check_login_rate
from gateway.schemas import (
    FileLookupIn,
    FileLookupOut,
    FileOut,
    FileState,
    MeOut,
    RefreshRequest,
    ScopeIn,
    TokenPair,
    TokenRequest,
    UserCreate,
    UserOut,
    WeChatLoginRequest,
)
from gateway.wechat import provider_from_settings
from services.common.auth import PrincipalDep, permissions_for, require
from services.common.clientaddr import client_address
from services.common.clients.volunteer import VolunteerClient
from services.common.database import SessionDep, TransactionalRoute
from services.common.errors import Forbidden, NotFound
from services.common.pagination import Page, PageParams, page_params
from services.common.peers import forward_token

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute)


def _user_out(user) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        roles=user.roles,
        scope=user.scope,
        unit_id=user.unit_id,
        resident_id=user.resident_id,
        active=user.active,
        created_at=user.created_at,
    )


@router.post("/auth/token", tags=["auth"])
async def login(body: TokenRequest, request: Request, session: SessionDep) -> TokenPair:
    """Staff login. Five failures within 15 minutes lock the account for 15 minutes; a few
    attempts a minute per client address and per username are let through at all."""
    state = request.app.state
    check_login_rate(
        state.edge_limits,
        address=client_address(request.scope, state.settings.trusted_proxies),
        username=body.username,
    )
    return await service.login(
        session=session,
        database=state.database,
        settings=state.settings,
        username=body.username,
        password=body.password,
    )


@router.post("/auth/wechat", tags=["auth"])
async def login_wechat(
    body: WeChatLoginRequest, request: Request, session: SessionDep
) -> TokenPair:
    """Mini-program login with a ``wx.login()`` code; the first login creates a resident."""
    state = request.app.state
    return await service.login_wechat(
        session=session,
        settings=state.settings,
        provider=provider_from_settings(state.settings, state.http_client),
        cipher=state.cipher,
        code=body.code,
    )


@router.post("/auth/refresh", tags=["auth"])
async def refresh(body: RefreshRequest, request: Request, session: SessionDep) -> TokenPair:
    """Spend a refresh token for a new pair. A token works once; reuse revokes the family,
    and the account's access tokens within seconds."""
    state = request.app.state
    return await service.refresh(
        session=session,
        database=state.database,
        publisher=state.publisher,
        settings=state.settings,
        raw_token=body.refresh_token,
    )


@router.post("/auth/logout", status_code=204, tags=["auth"])
async def logout(body: RefreshRequest, session: SessionDep) -> Response:
    """End this login: the refresh token's family, and the account's access tokens within
    seconds in every service. Answers 204 whether or not the token was known."""
    await service.logout(session=session, raw_token=body.refresh_token)
    return Response(status_code=204)


@router.get("/me", tags=["auth"])
async def me(principal: PrincipalDep, session: SessionDep, request: Request) -> MeOut:
    """The caller's account, roles, scope, and the records linked to it: the resident, the
    unit, and the volunteer record (asked of the volunteer service with the caller's token)."""
    user = await repository.user_by_id(session, principal.user_id)
    if user is None:
        raise NotFound()
    volunteer = None
    if "resident" in user.roles:
        client = VolunteerClient(request.app.state.peers, token=forward_token(request))
        record = await client.my_record()
        if record is not None:
            volunteer = record.model_dump()
    return MeOut(
        **_user_out(user).model_dump(),
        permissions=sorted(permissions_for(user.roles, user.extra_permissions)),
        kind="staff" if user.username else "resident",
        volunteer=volunteer,
    )


@router.post("/users", status_code=201, tags=["users"])
async def create_user(
    body: UserCreate,
    request: Request,
    session: SessionDep,
    principal=Depends(require("users:write")),
) -> UserOut:
    """An admin creates a staff account of a lower rank, inside its own scope."""
    user = await service.create_staff_user(
        session=session,
        principal=principal,
        peers=request.app.state.peers,
        token=forward_token(request),
        data=body,
    )
    return _user_out(user)


@router.get("/users", tags=["users"])
async def list_users(
    session: SessionDep,
    principal=Depends(require("users:write")),
    page: PageParams = Depends(page_params),
) -> Page[UserOut]:
    users, cursor = await repository.users_in_scope(session, principal, page)
    return Page(items=[_user_out(u) for u in users], next_cursor=cursor)


@router.get("/users/{user_id}", tags=["users"])
async def get_user(
    user_id: str, session: SessionDep, principal=Depends(require("users:write"))
) -> UserOut:
    user = await repository.user_by_id(session, user_id)
    if user is None or not service.can_see_user(principal, user):
        raise NotFound()
    return _user_out(user)


@router.put("/users/{user_id}/scope", tags=["users"])
async def set_user_scope(
    user_id: str, body: ScopeIn, session: SessionDep, principal=Depends(require("users:scope"))
) -> UserOut:
    """For the grid service: a grid worker's scope becomes the cells they are assigned."""
    user = await service.set_scope(
        session=session, principal=principal, user_id=user_id, scope=body.scope
    )
    return _user_out(user)


@router.post(
    "/files",
    status_code=201,
    tags=["files"],
    responses={415: {"description": "Not a JPEG, PNG or PDF (judged by the bytes)"}},
)
async def upload_file(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description="JPEG, PNG or PDF, at most 5 MB")],
) -> FileOut:
    settings = request.app.state.settings
    data = await file.read(settings.max_upload_bytes + 1)
    record = await files.store_upload(
        session=session,
        store=request.app.state.store,
        principal=principal,
        data=data,
        original_name=file.filename,
        limit=settings.max_upload_bytes,
    )
    return FileOut(
        id=record.id,
        url=f"/api/v1/files/{record.id}",
        sha256=record.sha256,
        content_type=record.content_type,
        size=record.size,
    )


@router.post("/files/lookup", tags=["files"])
async def look_up_files(
    body: FileLookupIn, session: SessionDep, principal=Depends(require("files:lookup"))
) -> FileLookupOut:
    """For services, before a record names uploads: which of these ids are uploads, whose,
    and the area of the record each already belongs to. An id that is no upload is left
    out. A service token only: no account holds this permission."""
    if principal.kind != "service":
        raise Forbidden()
    found = await repository.files_by_ids(session, sorted(set(body.ids)))
    return FileLookupOut(
        items=[
            FileState(id=f.id, owner_id=f.owner_id, attached_area=f.attached_area) for f in found
        ]
    )


@router.get("/files/{file_id}", tags=["files"], response_class=FileResponse)
async def download_file(
    file_id: str, request: Request, session: SessionDep, principal: PrincipalDep
):
    # The scope check first: nothing is read from the store for a caller who may not see it.
    record = files.ensure_readable(principal, await repository.file_by_id(session, file_id))
    body = await files.download(request.app.state.store, record)
    return StreamingResponse(
        body,
        media_type=record.content_type,
        headers={"ETag": f'"{record.sha256}"', "Content-Length": str(record.size)},
    )
