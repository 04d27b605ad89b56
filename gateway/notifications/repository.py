"""Every query the notifications make."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import (
    Notification,
    NotificationDelivery,
    NotificationSubscription,
    User,
    UserScope,
    WeChatIdentity,
)
from services.common.pagination import PageParams, paginate


def _insert(session: AsyncSession):
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def add(session: AsyncSession, rows: list) -> None:
    session.add_all(rows)
    await session.flush()


async def page_of(
    session: AsyncSession, user_id: str, page: PageParams, *, unread: bool
) -> tuple[list[Notification], str | None]:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    return await paginate(session, stmt, [Notification.id], page, descending=True)


async def unread_count(session: AsyncSession, user_id: str) -> int:
    stmt = select(func.count()).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    return await session.scalar(stmt) or 0


async def unread_about(
    session: AsyncSession, user_ids: list[str], kind: str, subject_id: str
) -> set[str]:
    if not user_ids:
        return set()
    stmt = select(Notification.user_id).where(
        Notification.user_id.in_(user_ids),
        Notification.kind == kind,
        Notification.subject_id == subject_id,
        Notification.read_at.is_(None),
    )
    return set((await session.scalars(stmt)).all())


async def own(session: AsyncSession, user_id: str, notification_id: str) -> Notification | None:
    return await session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        )
    )


async def mark_all_read(session: AsyncSession, user_id: str, now: datetime) -> int:
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    return result.rowcount or 0


async def settle(
    session: AsyncSession, subject_type: str, subject_id: str, kinds: list[str], at: datetime
) -> int:
    """Messages about one subject, of these kinds, written before ``at``: settled, and read
    by whoever had not read them."""
    about = (
        Notification.subject_type == subject_type,
        Notification.subject_id == subject_id,
        Notification.kind.in_(kinds),
        Notification.created_at <= at,
        Notification.settled_at.is_(None),
    )
    await session.execute(
        update(Notification).where(*about, Notification.read_at.is_(None)).values(read_at=at)
    )
    result = await session.execute(update(Notification).where(*about).values(settled_at=at))
    return result.rowcount or 0


async def deliveries_of(
    session: AsyncSession, notification_ids: list[str]
) -> list[NotificationDelivery]:
    if not notification_ids:
        return []
    stmt = (
        select(NotificationDelivery)
        .where(NotificationDelivery.notification_id.in_(notification_ids))
        .order_by(NotificationDelivery.created_at, NotificationDelivery.id)
    )
    return list((await session.scalars(stmt)).all())


# --- subscriptions ----------------------------------------------------------------------------


async def subscriptions_of(session: AsyncSession, user_id: str) -> list[NotificationSubscription]:
    stmt = (
        select(NotificationSubscription)
        .where(NotificationSubscription.user_id == user_id)
        .order_by(NotificationSubscription.kind)
    )
    return list((await session.scalars(stmt)).all())


async def record_choice(
    session: AsyncSession, *, user_id: str, kind: str, accepted: bool, long_term: bool, now
) -> None:
    """One acceptance is one more message allowed (all of them, long-term); a refusal takes
    back whatever was allowed."""
    table = NotificationSubscription.__table__
    values = {
        "user_id": user_id,
        "kind": kind,
        "long_term": long_term and accepted,
        "remaining": 1 if accepted else 0,
        "refused": not accepted,
        "updated_at": now,
    }
    statement = _insert(session)(table).values(values)
    if accepted:
        changes = {
            "remaining": table.c.remaining + 1,
            "long_term": long_term,
            "refused": False,
            "updated_at": now,
        }
    else:
        changes = {"remaining": 0, "long_term": False, "refused": True, "updated_at": now}
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.user_id, table.c.kind], set_=changes
        )
    )


async def allowed_kinds(session: AsyncSession, user_ids: list[str], kind: str) -> set[str]:
    """Of these accounts, those who may be sent one message of this kind now."""
    if not user_ids:
        return set()
    stmt = select(NotificationSubscription.user_id).where(
        NotificationSubscription.user_id.in_(user_ids),
        NotificationSubscription.kind == kind,
        NotificationSubscription.refused.is_(False),
        or_(NotificationSubscription.long_term, NotificationSubscription.remaining > 0),
    )
    return set((await session.scalars(stmt)).all())


async def spend_credit(session: AsyncSession, user_id: str, kind: str, now) -> bool:
    """Use up one one-time acceptance (a long-term one is not used up); False if none is
    left, because another message took it."""
    s = NotificationSubscription
    long_term = await session.scalar(
        select(s.user_id).where(s.user_id == user_id, s.kind == kind, s.long_term, ~s.refused)
    )
    if long_term:
        return True
    result = await session.execute(
        update(s)
        .where(s.user_id == user_id, s.kind == kind, s.remaining > 0, ~s.refused)
        .values(remaining=s.remaining - 1, updated_at=now)
    )
    return bool(result.rowcount)


async def mark_refused(session: AsyncSession, user_id: str, kind: str, now) -> None:
    s = NotificationSubscription
    await session.execute(
        update(s)
        .where(s.user_id == user_id, s.kind == kind)
        .values(remaining=0, long_term=False, refused=True, updated_at=now)
    )


# --- who is told ----------------------------------------------------------------------------


async def openids_of(session: AsyncSession, user_ids: list[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    stmt = (
        select(WeChatIdentity.user_id, WeChatIdentity.openid)
        .where(WeChatIdentity.user_id.in_(user_ids))
        .order_by(WeChatIdentity.last_login_at)
    )
    return {user_id: openid for user_id, openid in (await session.execute(stmt)).all()}


def _prefixes(code: str) -> list[str]:
    return [code[:n] for n in range(1, len(code) + 1)]


async def staff_reaching(
    session: AsyncSession,
    code: str,
    roles: tuple[str, ...],
    *,
    scope_lengths: tuple[int, int] | None = None,
) -> list[str]:
    """Active accounts of these roles whose scope reaches ``code`` (a scope row is a prefix
    of it), at the levels ``scope_lengths`` gives (the length of the scope code). The
    platform's own administrators are not told about every community."""
    prefixes = _prefixes(code)
    if scope_lengths is not None:
        low, high = scope_lengths
        prefixes = [p for p in prefixes if low <= len(p) <= high]
    reaching = select(UserScope.user_id).where(UserScope.code.in_(prefixes))
    stmt = select(User.id, User.roles).where(User.active.is_(True), User.id.in_(reaching))
    return sorted(
        user_id
        for user_id, user_roles in (await session.execute(stmt)).all()
        if any(role in roles for role in user_roles or [])
    )


async def unit_contacts(session: AsyncSession, unit_id: str) -> list[str]:
    stmt = select(User.id, User.roles).where(User.unit_id == unit_id, User.active.is_(True))
    return sorted(
        user_id
        for user_id, roles in (await session.execute(stmt)).all()
        if "unit_contact" in (roles or [])
    )


async def existing_users(session: AsyncSession, user_ids: list[str]) -> list[str]:
    if not user_ids:
        return []
    stmt = select(User.id).where(User.id.in_(user_ids), User.active.is_(True))
    return sorted((await session.scalars(stmt)).all())


# --- deliveries -----------------------------------------------------------------------------


async def due_deliveries(session: AsyncSession, now, limit: int) -> list[str]:
    stmt = (
        select(NotificationDelivery.id)
        .where(
            NotificationDelivery.status == "pending",
            NotificationDelivery.next_attempt_at <= now,
            or_(
                NotificationDelivery.claimed_until.is_(None),
                NotificationDelivery.claimed_until < now,
            ),
        )
        .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def claim(session: AsyncSession, delivery_id: str, now, until) -> bool:
    """Take a delivery for a while: of two replicas that try at once, one gets it."""
    d = NotificationDelivery
    result = await session.execute(
        update(d)
        .where(
            d.id == delivery_id,
            d.status == "pending",
            or_(d.claimed_until.is_(None), d.claimed_until < now),
        )
        .values(claimed_until=until)
    )
    return bool(result.rowcount)


async def delivery_with_notification(session: AsyncSession, delivery_id: str):
    stmt = (
        select(NotificationDelivery, Notification)
        .join(Notification, Notification.id == NotificationDelivery.notification_id)
        .where(NotificationDelivery.id == delivery_id)
    )
    return (await session.execute(stmt)).one_or_none()
