"""Accounts and sessions: staff login with lockout, WeChat login, token rotation, and the
rules for who may create whom."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import repository
from gateway.models import LoginFailure, RefreshToken, User, UserScope, WeChatIdentity, outbox
from gateway.schemas import TokenPair, UserCreate
from gateway.wechat import WeChatProvider
from services.common.auth import (
    ALL,
    ROLE_RANK,
    Principal,
    grant_refusals,
    issue_access_token,
    permissions_for,
)
from services.common.clients.registry import RegistryClient
from services.common.clock import clock
from services.common.database import Database
from services.common.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
)
from services.common.events import REVOKED, emit
from services.common.ids import new_id
from services.common.pii import PiiCipher
from services.common.settings import Settings

_hasher = PasswordHasher()
# Verified when the username is unknown, so that a miss costs as long as a hit.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


# Hashing runs in threads, at most this many at once (set from the settings at start-up):
# a flood of logins queues here instead of taking every core from the other requests.
hashing = anyio.CapacityLimiter(2)


def bound_hashing(concurrency: int) -> None:
    hashing.total_tokens = max(1, concurrency)


async def _password_matches(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(verify, limiter=hashing)


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def issue_tokens(
    *, session: AsyncSession, settings: Settings, user: User, family_id: str | None = None
) -> TokenPair:
    access, ttl = issue_access_token(
        settings,
        user_id=user.id,
        roles=user.roles,
        scope=user.scope,
        permissions=permissions_for(user.roles, user.extra_permissions),
        unit_id=user.unit_id,
        resident_id=user.resident_id,
        # Histories name whoever acted: an account without a display name by its login.
        name=user.display_name or user.username or None,
    )
    raw = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or secrets.token_hex(16),
            token_hash=_token_hash(raw),
            expires_at=clock.now() + timedelta(seconds=settings.refresh_token_ttl_s),
        )
    )
    await session.flush()
    return TokenPair(access_token=access, refresh_token=raw, expires_in=ttl)


async def login(
    *, session: AsyncSession, database: Database, settings: Settings, username: str, password: str
) -> TokenPair:
    """Staff login. Wrong, unknown and locked accounts all get the same 401."""
    now = clock.now()
    user = await repository.user_by_username(session, username)
    locked = user is not None and user.locked_until and user.locked_until > now
    ok = await _password_matches(user.password_hash if user else None, password)
    if locked or not ok or user is None or not user.active:
        await session.rollback()  # release the write lock before the failure is recorded
        if not locked:
            await _record_failure(database=database, settings=settings, username=username)
        raise Unauthorized("auth.invalid_credentials")
    await repository.clear_failures(session, username)
    return await issue_tokens(session=session, settings=settings, user=user)


async def _record_failure(*, database: Database, settings: Settings, username: str) -> None:
    # In a transaction of its own: the request fails, the failure must still be remembered.
    now = clock.now()
    async with database.transaction() as session:
        session.add(LoginFailure(username=username, at=now))
        await session.flush()
        window_start = now - timedelta(seconds=settings.login_failure_window_s)
        failures = await repository.count_failures_since(session, username, window_start)
        if failures >= settings.login_max_failures:
            user = await repository.user_by_username(session, username)
            if user is not None:
                user.locked_until = now + timedelta(seconds=settings.login_lock_s)
                await repository.clear_failures(session, username)


async def login_wechat(
    *,
    session: AsyncSession,
    settings: Settings,
    provider: WeChatProvider,
    cipher: PiiCipher,
    code: str,
) -> TokenPair:
    """The first login of an openid creates its resident account; the token's subject is our
    user id, never the openid."""
    wx = await provider.code_to_session(code)
    identity = await repository.wechat_identity(session, wx.openid)
    now = clock.now()
    sealed = cipher.encrypt(wx.session_key, "wechat_session_key") if wx.session_key else None
    if identity is None:
        user = User(roles=["resident"], display_name="", scopes=[])
        session.add(user)
        await session.flush()
        identity = WeChatIdentity(
            openid=wx.openid, unionid=wx.unionid, user_id=user.id, session_key_enc=sealed
        )
        session.add(identity)
    else:
        user = await repository.user_by_id(session, identity.user_id)
        identity.session_key_enc = sealed or identity.session_key_enc
        identity.last_login_at = now
    if user is None or not user.active:
        raise Unauthorized("auth.account_disabled")
    await session.flush()
    return await issue_tokens(session=session, settings=settings, user=user)


async def refresh(
    *,
    session: AsyncSession,
    database: Database,
    settings: Settings,
    raw_token: str,
    publisher=None,
) -> TokenPair:
    now = clock.now()
    token = await repository.refresh_by_hash(session, _token_hash(raw_token))
    if token is None or token.expires_at <= now:
        raise Unauthorized("auth.refresh_invalid")
    if (
        token.used_at is not None
        or token.revoked_at is not None
        or not (await repository.spend_refresh(session, token.id, now))
    ):
        # A spent token presented again: whoever holds the family may be an attacker.
        family_id, user_id = token.family_id, token.user_id
        await session.rollback()
        async with database.transaction() as revoking:
            await repository.revoke_family(revoking, family_id, now)
            await revoke_access(revoking, user_id)
        if publisher is not None:  # the answer is a 401: no commit of the request's to nudge
            await publisher.run_once()
        raise Unauthorized("auth.refresh_reused")
    user = await repository.user_by_id(session, token.user_id)
    if user is None or not user.active:
        raise Unauthorized("auth.account_disabled")
    return await issue_tokens(
        session=session, settings=settings, user=user, family_id=token.family_id
    )


async def create_staff_user(
    *, session: AsyncSession, principal: Principal, peers, token: str | None, data: UserCreate
) -> User:
    """An admin creates accounts of a lower rank, inside its own scope only: the scope, the
    unit the account speaks for, and the extra permissions it may be granted all have to be
    the creator's to give."""
    if ROLE_RANK[data.role] >= principal.rank and not principal.has_role("platform_admin"):
        raise Forbidden("user.role_not_allowed")
    scope = list(dict.fromkeys(data.scope))
    if ALL in scope and (data.role != "platform_admin" or len(scope) > 1):
        raise Unprocessable(
            "validation.scope_code_invalid", errors=[FieldError("scope", "scope_code_invalid")]
        )
    if data.role == "platform_admin":
        scope = [ALL]
    elif not scope:
        raise Unprocessable("validation.missing", errors=[FieldError("scope", "missing")])
    outside = [code for code in scope if not principal.covers(code)]
    if outside:
        raise Forbidden("auth.out_of_scope", extra={"outside": outside})
    if data.role == "unit_contact" and not data.unit_id:
        raise Unprocessable("validation.missing", errors=[FieldError("unit_id", "missing")])
    if data.unit_id:
        await _unit_within(peers, token, principal, data.unit_id, scope)
    extra = list(dict.fromkeys(data.extra_permissions))
    refused = grant_refusals(principal.roles, data.role, extra)
    refused.update({p: "not_grantable" for p in extra if p not in refused and not principal.has(p)})
    if refused:
        raise Unprocessable(
            "validation.permission_not_grantable",
            errors=[
                FieldError("extra_permissions", f"permission_{why}", {"permission": permission})
                for permission, why in refused.items()
            ],
        )
    if await repository.user_by_username(session, data.username) is not None:
        raise Conflict("user.username_taken", errors=[FieldError("username", "username_taken")])
    user = User(
        id=new_id(),
        username=data.username,
        password_hash=await hash_password(data.password),
        display_name=data.display_name,
        roles=[data.role],
        extra_permissions=extra,
        unit_id=data.unit_id,
        created_by=principal.user_id,
        scopes=[UserScope(code=c) for c in scope],
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:  # the same username created a moment ago
        raise Conflict(
            "user.username_taken", errors=[FieldError("username", "username_taken")]
        ) from None
    return user


async def _unit_within(peers, token, principal: Principal, unit_id: str, scope: list[str]) -> None:
    """The unit must be one the creator can see, in a community of the new account's scope
    (a street admin cannot make an account that speaks for another street's unit)."""

    def not_found() -> Unprocessable:
        return Unprocessable("validation.not_found", errors=[FieldError("unit_id", "not_found")])

    unit = await RegistryClient(peers, token=token).unit(
        unit_id=unit_id, errors={404: not_found, 403: not_found}
    )
    inside = ALL in scope or any(unit.community_code.startswith(code) for code in scope)
    if not principal.reaches(unit.community_code) or not inside:
        raise not_found()


def can_see_user(principal: Principal, user: User) -> bool:
    if principal.user_id == user.id or principal.unrestricted:
        return True
    return any(principal.reaches(code) for code in user.scope)


async def set_scope(
    *, session: AsyncSession, principal: Principal, user_id: str, scope: list[str]
) -> User:
    """The grid service keeps a grid worker's scope equal to their cells."""
    user = await repository.user_by_id(session, user_id)
    if user is None or user.username is None:
        raise NotFound()
    if "grid_worker" not in user.roles:
        raise Unprocessable(
            "validation.not_a_grid_worker",
            errors=[FieldError("scope", "not_a_grid_worker", {"user": user_id})],
        )
    user.scopes = [UserScope(code=c) for c in dict.fromkeys(scope)]
    await session.flush()
    return user


async def revoke_access(session: AsyncSession, user_id: str) -> None:
    """Every access token of the account issued until now stops counting, in every process,
    within the seconds the ``auth.revoked`` event takes (not the 15 minutes a token lives)."""
    await emit(
        session,
        outbox,
        REVOKED,
        {"user_id": user_id, "not_before": clock.now().timestamp()},
    )


async def logout(*, session: AsyncSession, raw_token: str) -> None:
    """The phone is done with this login: its refresh family and its access tokens end."""
    token = await repository.refresh_by_hash(session, _token_hash(raw_token))
    if token is None:
        return  # nothing to end; the answer does not say whether the token existed
    await repository.revoke_family(session, token.family_id, clock.now())
    await revoke_access(session, token.user_id)


async def apply_grid_worker_cells(*, session: AsyncSession, user_id: str, cells: list[str]) -> None:
    """A grid worker's scope becomes the cells the grid service says they hold (the event
    ``grid.members_changed``): taken off their last cell, they reach nothing until they are
    given one again. An account that is gone or no longer a grid worker is left alone."""
    user = await repository.user_by_id(session, user_id)
    if user is None or "grid_worker" not in user.roles:
        return
    before = set(user.scope)
    user.scopes = [UserScope(code=c) for c in dict.fromkeys(cells)]
    await session.flush()
    if before - set(cells):  # a cell taken away: the tokens that still carry it must go
        await revoke_access(session, user.id)
