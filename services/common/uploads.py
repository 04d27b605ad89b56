"""Uploads named by a record (a case's photos, a record's evidence), checked on use with the
gateway, which keeps them. A record names only what its author uploaded, or what already
belongs to a record of the same area; a file belongs to the area of the first record that
names it (event ``files.attached``), so one attached in one area is never attached in
another, by anyone."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.common import i18n
from services.common.auth import Principal
from services.common.clients.gateway import FileState, GatewayClient
from services.common.errors import FieldError, Unprocessable
from services.common.events import attach_files

# field code → the problem's code, when it is the first refusal
_PROBLEM = {
    "file_not_found": "file.not_found",
    "file_not_yours": "file.not_yours",
    "file_attached_elsewhere": "file.attached_elsewhere",
}

i18n.register(
    {
        "file.not_found": ("所附文件不存在,请重新上传。", "An attached file does not exist."),
        "file.not_yours": (
            "所附文件不是您上传的,请上传您自己的文件。",
            "An attached file is not one you uploaded.",
        ),
        "file.attached_elsewhere": (
            "所附文件已用在另一个网格或社区的记录上;一份文件只随一个区域的记录保存和查阅,"
            "请为这条记录另行拍照上传。",
            "An attached file is already part of a record of another cell or community; a file "
            "stays with one area's records, so upload it again for this one.",
        ),
    }
)
i18n.register(
    {
        "file_not_found": ("文件不存在。", "No such file."),
        "file_not_yours": ("不是您上传的文件。", "Not a file you uploaded."),
        "file_attached_elsewhere": (
            "文件已用在另一个网格或社区的记录上,请另行上传。",
            "The file is part of another area's record; upload it again.",
        ),
    },
    field=True,
)


def refusal(principal: Principal, file: FileState | None, area: str) -> str | None:
    """Why ``principal`` may not name ``file`` on a record in ``area``, or None."""
    if file is None:
        return "file_not_found"
    mine = file.owner_id == principal.user_id
    if file.attached_area is None:
        return None if mine else "file_not_yours"
    if file.attached_area != area:
        return "file_attached_elsewhere" if mine else "file_not_yours"
    # already this area's: its uploader, or who reaches the area (and so reads it)
    return None if mine or principal.reaches(area) else "file_not_yours"


async def check_uploads(
    *, peers, principal: Principal, file_ids: Sequence[str], field: str, area: str
) -> None:
    """A 422 naming each refused entry (``photos[1]``) unless every id may be named."""
    if not file_ids:
        return
    found = await GatewayClient(peers).files(ids=sorted(set(file_ids)))
    by_id = {f.id: f for f in found}
    errors = [
        FieldError(f"{field}[{i}]", code)
        for i, file_id in enumerate(file_ids)
        if (code := refusal(principal, by_id.get(file_id), area)) is not None
    ]
    if errors:
        raise Unprocessable(_PROBLEM[errors[0].code], errors=errors)


async def attach_uploads(
    *,
    session: AsyncSession,
    outbox: Table,
    peers,
    principal: Principal,
    file_ids: Sequence[str],
    field: str,
    area: str,
) -> None:
    """Check the uploads a record names, then tell the gateway they are that record's."""
    await check_uploads(peers=peers, principal=principal, file_ids=file_ids, field=field, area=area)
    await attach_files(session, outbox, file_ids, area)
