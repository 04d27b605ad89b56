"""Every query the gateway makes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import LoginFailure, RefreshToken, StoredFile, User, UserScope, WeChatIdentity
from services.common.auth import Principal
from services.common.pagination import PageParams, paginate


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


async def user_by_id(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def link_resident(
    session: AsyncSession, user_id: str, resident_id: str, name: str | None = None
) -> None:
    """A resident account learns which registry resident it is, and the name it registered
    under where it had none (a WeChat login brings no name)."""
    user = await session.get(User, user_id)
    if user is not None and "resident" in (user.roles or []):
        user.resident_id = resident_id
        if name and not user.display_name:
            user.display_name = name[:64]
        await session.flush()


async def wechat_identity(session: AsyncSession, openid: str) -> WeChatIdentity | None:
    return await session.get(WeChatIdentity, openid)


async def count_failures_since(session: AsyncSession, username: str, since: datetime) -> int:
    return (
        await session.scalar(
            select(func.count()).where(LoginFailure.username == username, LoginFailure.at > since)
        )
        or 0
    )


async def clear_failures(session: AsyncSession, username: str) -> None:
    await session.execute(delete(LoginFailure).where(LoginFailure.username == username))


async def refresh_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def spend_refresh(session: AsyncSession, token_id: str, now: datetime) -> bool:
    """Mark a refresh token used, atomically: False when someone spent it first."""
    result = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == token_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=now)
    )
    return result.rowcount == 1


async def revoke_family(session: AsyncSession, family_id: str, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def users_in_scope(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[User], str | None]:
    """Staff accounts with at least one scope code inside the caller's scope."""
    stmt = select(User).where(User.username.is_not(None))
    if not principal.unrestricted:
        if not principal.scope:
            return [], None
        stmt = stmt.where(
            exists().where(
                UserScope.user_id == User.id,
                or_(*[UserScope.code.startswith(p, autoescape=True) for p in principal.scope]),
            )
        )
    return await paginate(session, stmt, [User.id], params)


async def file_by_id(session: AsyncSession, file_id: str) -> StoredFile | None:
    return await session.get(StoredFile, file_id)


async def files_by_ids(session: AsyncSession, file_ids: list[str]) -> list[StoredFile]:
    if not file_ids:
        return []
    rows = await session.scalars(select(StoredFile).where(StoredFile.id.in_(file_ids)))
    return list(rows)


async def share_files(session: AsyncSession, file_ids: list[str], unit_id: str | None) -> None:
    await session.execute(
        update(StoredFile).where(StoredFile.id.in_(file_ids)).values(shared_unit_id=unit_id)
    )


async def attach_files(session: AsyncSession, file_ids: list[str], area: str) -> None:
    """The first record a file is attached to decides who may read it."""
    await session.execute(
        update(StoredFile)
        .where(StoredFile.id.in_(file_ids), StoredFile.attached_area.is_(None))
        .values(attached_area=area)
    )
