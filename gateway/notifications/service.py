"""The rules of the inbox: who is told what, what may be sent to WeChat, and the sending
with its retries."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Notification, NotificationDelivery
from gateway.notifications import repository
from gateway.notifications.providers import DeliveryError, SubscribeMessage, SubscribeProvider
from services.common.clock import clock, to_local
from services.common.errors import FieldError, NotFound, Unprocessable
from services.common.events import after_commit
from services.common.ids import new_id
from services.common.pagination import PageParams
from services.common.settings import Settings

log = logging.getLogger("gongjian.notifications")

# Every kind of message, with the sentence a person reads in their list; the services'
# events say which kind and fill in the rest.
KINDS = {
    "case_dispatched": "事件派遣",
    "case_due_soon": "事件即将到期",
    "case_overdue": "事件已超时",
    "case_returned": "事件返工",
    "extension_requested": "延期待审批",
    "extension_approved": "延期已批准",
    "extension_rejected": "延期未获批准",
    "case_reported": "事件待立案",
    "case_to_verify": "事件待核查",
    "case_to_close": "事件待结案",
    "case_accepted": "上报事件已立案",
    "case_rejected": "上报事件不予立案",
    "case_closed": "上报事件已办结",
    "volunteer_review": "志愿者待审核",
    "volunteer_approved": "志愿者注册已通过",
    "volunteer_rejected": "志愿者注册未通过",
    "hours_to_review": "服务时长待审核",
    "waitlist_promoted": "候补转为报名成功",
    "activity_changed": "活动有变更",
    "activity_cancelled": "活动已取消",
    "agreement_to_sign": "共建协议待签署",
    "record_to_confirm": "履约记录待确认",
    "record_confirmed": "履约记录已确认",
    "record_disputed": "履约记录有异议",
    "application_step": "示范社区申报进展",
}

CHANNEL = "wechat_subscribe"
CLAIM_S = 60


def templates(settings: Settings) -> dict[str, str]:
    """The template of each kind. With the fake provider every kind has a stand-in, so that
    development shows what would be sent."""
    if settings.wechat_subscribe_provider == "fake" and not settings.wechat_templates:
        return {kind: f"dev-{kind}" for kind in KINDS}
    return settings.wechat_templates


@dataclass(frozen=True)
class Message:
    kind: str
    title: str
    body: str
    subject_type: str | None = None
    subject_id: str | None = None
    link: str | None = None


async def notify(
    session: AsyncSession,
    *,
    settings: Settings,
    sender: NotificationSender | None,
    user_ids: list[str],
    message: Message,
) -> list[Notification]:
    """One notification in each account's inbox; a WeChat delivery for those who accepted
    this kind and have a WeChat identity, sent once the transaction commits."""
    if message.kind not in KINDS:
        raise ValueError(f"unknown kind of notification: {message.kind}")
    recipients = await repository.existing_users(session, list(dict.fromkeys(user_ids)))
    if message.subject_id:
        # One unread reminder of the same thing is enough.
        told = await repository.unread_about(session, recipients, message.kind, message.subject_id)
        recipients = [u for u in recipients if u not in told]
    now = clock.now()
    rows = [
        Notification(
            id=new_id(),
            user_id=user_id,
            kind=message.kind,
            title=message.title[:100],
            body=message.body[:500],
            subject_type=message.subject_type,
            subject_id=message.subject_id,
            link=message.link,
            created_at=now,
        )
        for user_id in recipients
    ]
    await repository.add(session, rows)
    template = templates(settings).get(message.kind)
    if template and rows:
        allowed = await repository.allowed_kinds(session, recipients, message.kind)
        openids = await repository.openids_of(session, sorted(allowed))
        deliveries = [
            NotificationDelivery(
                id=new_id(),
                notification_id=row.id,
                channel=CHANNEL,
                template_id=template,
                next_attempt_at=now,
                created_at=now,
            )
            for row in rows
            if row.user_id in openids
        ]
        await repository.add(session, deliveries)
        if deliveries and sender is not None:
            after_commit(session, sender.send_due)
    return rows


async def inbox(
    session: AsyncSession, *, user_id: str, page: PageParams, unread: bool
) -> tuple[list[Notification], str | None, int, dict[str, list[NotificationDelivery]]]:
    rows, cursor = await repository.page_of(session, user_id, page, unread=unread)
    count = await repository.unread_count(session, user_id)
    deliveries: dict[str, list[NotificationDelivery]] = {}
    for d in await repository.deliveries_of(session, [r.id for r in rows]):
        deliveries.setdefault(d.notification_id, []).append(d)
    return rows, cursor, count, deliveries


async def mark_read(session: AsyncSession, *, user_id: str, notification_id: str) -> Notification:
    row = await repository.own(session, user_id, notification_id)
    if row is None:
        raise NotFound()
    if row.read_at is None:
        row.read_at = clock.now()
        await session.flush()
    return row


async def mark_all_read(session: AsyncSession, *, user_id: str) -> int:
    return await repository.mark_all_read(session, user_id, clock.now())


async def record_subscriptions(
    session: AsyncSession, *, settings: Settings, user_id: str, results: dict[str, str]
) -> None:
    """What ``wx.requestSubscribeMessage`` answered, template id → accept, reject, ban or
    filter, as the mini-program hands it on."""
    kind_of = {template: kind for kind, template in templates(settings).items()}
    unknown = sorted(t for t in results if t not in kind_of)
    if unknown:
        raise Unprocessable(
            "notification.template_unknown",
            errors=[FieldError("results", "template_unknown", {"templates": ", ".join(unknown)})],
        )
    now = clock.now()
    for template, answer in results.items():
        kind = kind_of[template]
        await repository.record_choice(
            session,
            user_id=user_id,
            kind=kind,
            accepted=answer == "accept",
            long_term=kind in settings.wechat_long_term_kinds,
            now=now,
        )


def template_data(notification: Notification) -> dict[str, dict[str, str]]:
    """The fields every template takes: thing1 the title, thing2 the summary (20 characters
    each, WeChat's limit for ``thing``), time3 when."""
    when = to_local(notification.created_at).strftime("%Y-%m-%d %H:%M")
    return {
        "thing1": {"value": notification.title[:20]},
        "thing2": {"value": notification.body[:20]},
        "time3": {"value": when},
    }


class NotificationSender:
    """Sends the deliveries that are due, one replica each, and tries a failed one again
    later (base × 2^attempts) until it has tried ``notification_max_attempts`` times."""

    def __init__(self, database, provider: SubscribeProvider, settings: Settings) -> None:
        self.database = database
        self.provider = provider
        self.settings = settings
        self.task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def send_due(self) -> int:
        async with self._lock:
            async with self.database.transaction(write=False) as session:
                due = await repository.due_deliveries(session, clock.now(), limit=100)
            sent = 0
            for delivery_id in due:
                sent += await self._send_one(delivery_id)
            return sent

    async def _send_one(self, delivery_id: str) -> int:
        now = clock.now()
        async with self.database.transaction() as session:
            if not await repository.claim(
                session, delivery_id, now, now + timedelta(seconds=CLAIM_S)
            ):
                return 0
            found = await repository.delivery_with_notification(session, delivery_id)
            if found is None:
                return 0
            delivery, notification = found
            openids = await repository.openids_of(session, [notification.user_id])
            message = SubscribeMessage(
                openid=openids.get(notification.user_id, ""),
                template_id=delivery.template_id,
                page=notification.link,
                data=template_data(notification),
            )
        outcome: DeliveryError | None = None
        try:
            await self.provider.send(message)
        except DeliveryError as exc:
            outcome = exc
        async with self.database.transaction() as session:
            delivery = await session.get(NotificationDelivery, delivery_id)
            delivery.attempts += 1
            delivery.claimed_until = None
            done = clock.now()
            if outcome is None:
                delivery.status, delivery.sent_at, delivery.last_error = "sent", done, None
                await repository.spend_credit(
                    session, notification.user_id, notification.kind, done
                )
                return 1
            delivery.last_error = outcome.reason
            if outcome.refused:
                delivery.status = "refused"
                await repository.mark_refused(
                    session, notification.user_id, notification.kind, done
                )
            elif outcome.retry and delivery.attempts < self.settings.notification_max_attempts:
                wait = self.settings.notification_retry_base_s * 2 ** (delivery.attempts - 1)
                delivery.next_attempt_at = done + timedelta(seconds=wait)
            else:
                delivery.status = "failed"
            log.warning(
                "subscribe message not sent",
                extra={
                    "delivery": delivery_id,
                    "reason": outcome.reason,
                    "status": delivery.status,
                },
            )
        return 0

    def start(self, interval_s: float) -> None:
        async def loop() -> None:
            while True:
                try:
                    await self.send_due()
                except Exception:
                    log.exception("notification sender")
                await asyncio.sleep(interval_s)

        self.task = asyncio.create_task(loop())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
