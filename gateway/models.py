"""The gateway's own tables: accounts, their scope, WeChat identities, refresh tokens,
failed logins and uploaded files."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.common.clock import clock
from services.common.database import UTCDateTime, new_metadata
from services.common.events import inbox_table, outbox_table
from services.common.idempotency import idempotency_table
from services.common.ids import new_id


class Base(DeclarativeBase):
    metadata = new_metadata()


idempotency_keys = idempotency_table(Base.metadata)
inbox = inbox_table(Base.metadata)
outbox = outbox_table(Base.metadata)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # Staff log in by username; residents come through WeChat and have none.
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(64), default="")
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra_permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    unit_id: Mapped[str | None] = mapped_column(String(36))
    resident_id: Mapped[str | None] = mapped_column(String(36))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    scopes: Mapped[list[UserScope]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="UserScope.code"
    )

    @property
    def scope(self) -> list[str]:
        return [s.code for s in self.scopes]


class UserScope(Base):
    """One code prefix an account reaches; a row each so that "accounts inside my scope" is
    a query, not a scan."""

    __tablename__ = "user_scopes"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class WeChatIdentity(Base):
    __tablename__ = "wechat_identities"

    openid: Mapped[str] = mapped_column(String(128), primary_key=True)
    unionid: Mapped[str | None] = mapped_column(String(128), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    # WeChat's session_key stays on the server, encrypted like any personal data.
    session_key_enc: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class RefreshToken(Base):
    """Single-use: each refresh spends one and issues the next of the same family. A spent
    token presented again means it was stolen or replayed, so the family is revoked."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginFailure(Base):
    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_username_at", "username", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class StoredFile(Base):
    """An upload; the bytes live on disk under the data dir, named by their sha256, so the
    same photo uploaded twice is stored once."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    original_name: Mapped[str | None] = mapped_column(String(255))
    owner_id: Mapped[str] = mapped_column(String(36), index=True)
    # The area (cell or area code) of the record it is attached to, once a service says so
    # (event files.attached): who reaches that record's area may read the file.
    attached_area: Mapped[str | None] = mapped_column(String(20), index=True)
    # The stationed unit its record was sent to (a case's photos): that unit's contacts read it.
    shared_unit_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class RateCount(Base):
    """Requests of one rate-limit key in one minute (minutes since the epoch), summed over
    every gateway replica (gateway/ratelimits.py); rows older than the last minute go."""

    __tablename__ = "rate_counts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class Notification(Base):
    """One message in one account's inbox 消息: what happened, to what, and whether it was
    read. The inbox holds everything; a WeChat delivery is a copy where one is allowed."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_read", "user_id", "read_at"),
        Index("ix_notifications_subject", "subject_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(String(500))
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(36))
    # The mini-program page that shows the subject.
    link: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When what it asked for was done, by whoever did it; it counts as read from then.
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationSubscription(Base):
    """What an account accepted in ``wx.requestSubscribeMessage``, per kind of message: a
    one-time acceptance allows one message, a long-term one (政务民生 services) all of them."""

    __tablename__ = "notification_subscriptions"

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(48), primary_key=True)
    long_term: Mapped[bool] = mapped_column(Boolean, default=False)
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class NotificationDelivery(Base):
    """One attempt chain to send a notification through a channel, kept as the record of
    what was sent: pending, sent, refused (the user did not subscribe) or failed."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    template_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    # A replica that takes a delivery holds it until then: two replicas never send one twice.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
