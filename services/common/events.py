"""Events between services: the transactional outbox.

When something another service relies on changes (a resident moves out), the owner writes
an event to its own ``outbox`` table in the same transaction as the change. A publisher
delivers unpublished events to the bus — NATS JetStream when configured, in process
otherwise — and marks them published only once delivered, so an event whose consumer is
down is delivered when it comes back. Consumers record each event id in their ``inbox``
and do nothing for one they have seen: delivery is at least once, the effect exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    Column,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import clock
from services.common.database import UTCDateTime
from services.common.ids import new_id

log = logging.getLogger("gongjian.events")

Handler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("topic", String(64), nullable=False),
        Column("payload", JSON, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("published_at", UTCDateTime(), nullable=True, index=True),
    )


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("event_id", String(36), nullable=False),
        Column("consumer", String(64), nullable=False),
        Column("processed_at", UTCDateTime(), nullable=False),
        PrimaryKeyConstraint("event_id", "consumer"),
    )


async def emit(session: AsyncSession, outbox: Table, topic: str, payload: dict[str, Any]) -> str:
    """Record an event in the caller's transaction: it exists if and only if the change does."""
    event_id = new_id()
    await session.execute(
        insert(outbox).values(id=event_id, topic=topic, payload=payload, created_at=clock.now())
    )
    session.info[EMITTED] = True
    return event_id


async def settle_notices(
    session: AsyncSession,
    outbox: Table,
    service: str,
    subject_type: str,
    subject_id: str,
    *kinds: str,
) -> None:
    """Say that what some messages asked for is done (a signature given, a review made), so
    the gateway's inbox stops showing them as waiting (event ``<service>.notices_settled``).
    The moment goes with it: a message the same change asks for anew (the other side's turn
    to sign) is newer than it and stays waiting."""
    await emit(
        session,
        outbox,
        f"{service}.notices_settled",
        {
            "subject_type": subject_type,
            "subject_id": subject_id,
            "kinds": list(kinds),
            "at": clock.now().isoformat(),
        },
    )


# Coroutine functions a handler wants run once its transaction has committed (sending what
# it recorded, say); each has a periodic sweep of its own should it fail.
AFTER_COMMIT = "gongjian.after_commit"


def after_commit(session: AsyncSession, hook: Callable[[], Awaitable[None]]) -> None:
    hooks = session.info.setdefault(AFTER_COMMIT, [])
    if hook not in hooks:
        hooks.append(hook)


# Set on a session that wrote to the outbox: once it commits, the request nudges the publisher
# (see ``publish_after_commit``) instead of leaving the event to the next sweep.
EMITTED = "gongjian.events_emitted"


async def publish_after_commit(app_state, session: AsyncSession) -> None:
    """Deliver what a request just committed to the outbox, before its answer leaves: in the
    embedded mode the other services have acted on it when the caller reads them next. A
    delivery that fails leaves the event in the outbox for the sweep; never the request's
    failure."""
    if not session.info.pop(EMITTED, False):
        return
    publisher = getattr(app_state, "publisher", None)
    if publisher is None:
        return
    try:
        await publisher.run_once()
    except Exception:
        log.exception("publishing after commit failed; the sweep will retry")


FILES_ATTACHED = "files.attached"
FILES_SHARED = "files.shared_with_unit"


async def attach_files(session: AsyncSession, outbox: Table, file_ids, area: str) -> None:
    """Tell the gateway, which keeps the uploads, that these now belong to a record in
    ``area``: whoever reaches that area may read them (and nobody else but the uploader)."""
    ids = sorted({f for f in file_ids if f})
    if ids:
        await emit(session, outbox, FILES_ATTACHED, {"file_ids": ids, "area": area})


async def share_files_with_unit(
    session: AsyncSession, outbox: Table, file_ids, unit_id: str | None
) -> None:
    """Tell the gateway that a stationed unit's contacts may read these uploads too (a
    case's photos, once the case is sent to the unit); the last unit named is the one."""
    ids = sorted({f for f in file_ids if f})
    if ids:
        await emit(session, outbox, FILES_SHARED, {"file_ids": ids, "unit_id": unit_id})


# Published by the gateway when an account's access tokens must stop counting; every
# process applies it to its ``services.common.auth.revocations``.
REVOKED = "auth.revoked"


async def apply_revocation(event_id: str, payload: dict[str, Any]) -> None:
    from services.common.auth import revocations

    revocations.revoke(payload["user_id"], float(payload["not_before"]))


class Bus(Protocol):
    async def publish(self, event_id: str, topic: str, payload: dict[str, Any]) -> None: ...


class InProcessBus:
    """Delivery to subscribers in this process (the embedded mode). A subscriber that fails
    makes the publish fail, so the event stays in the outbox and is tried again."""

    def __init__(self) -> None:
        self.subscribers: dict[str, list[Callable[[str, dict[str, Any]], Awaitable[None]]]] = {}

    def subscribe(
        self, topic: str, deliver: Callable[[str, dict[str, Any]], Awaitable[None]]
    ) -> None:
        self.subscribers.setdefault(topic, []).append(deliver)

    async def publish(self, event_id: str, topic: str, payload: dict[str, Any]) -> None:
        for deliver in self.subscribers.get(topic, []):
            await deliver(event_id, payload)


class NatsBus:
    """NATS JetStream: events persist in a stream; each consumer service has a durable
    consumer, so what is published while it is down waits for it. The event id is the
    JetStream message id, which also drops duplicate publishes."""

    STREAM = "GONGJIAN"

    def __init__(self, url: str) -> None:
        self.url = url
        self.nc = None
        self.js = None
        self.tasks: list[asyncio.Task] = []
        self.closing = False
        self.subscriptions: list = []

    async def connect(self) -> None:
        import nats

        async def quiet(error: Exception) -> None:  # the broker away: said once a try, briefly
            log.debug("NATS: %s", error)

        # Tries until the broker answers, at start-up too: the component serves meanwhile
        # (see services.common.app.start_events) and its outbox keeps the events.
        self.nc = await nats.connect(
            self.url, connect_timeout=2, max_reconnect_attempts=-1, error_cb=quiet
        )
        self.js = self.nc.jetstream()
        try:
            await self.js.add_stream(name=self.STREAM, subjects=["gongjian.>"])
        except Exception:  # exists already (possibly with other settings): use it as it is
            log.debug("stream exists")

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def publish(self, event_id: str, topic: str, payload: dict[str, Any]) -> None:
        if not self.connected:
            raise ConnectionError("NATS is not connected")
        await self.js.publish(
            f"gongjian.{topic}", json.dumps(payload).encode(), headers={"Nats-Msg-Id": event_id}
        )

    async def consume(
        self, consumer: str, topic: str, deliver: Callable[[str, dict[str, Any]], Awaitable[None]]
    ) -> None:
        subscription = await self.js.pull_subscribe(
            f"gongjian.{topic}", durable=f"{consumer}-{topic.replace('.', '-')}"
        )
        self.subscriptions.append(subscription)

        async def loop() -> None:
            while not self.closing:
                try:
                    messages = await subscription.fetch(10, timeout=1)
                except asyncio.CancelledError:
                    raise
                except Exception:  # nats raises a timeout when nothing is waiting
                    continue
                for message in messages:
                    try:
                        await deliver(
                            message.headers.get("Nats-Msg-Id", ""), json.loads(message.data)
                        )
                        await message.ack()
                    except Exception:
                        log.exception("event handling failed; it will be redelivered")
                        await message.nak(delay=1)

        self.tasks.append(asyncio.create_task(loop()))

    async def follow(
        self,
        topic: str,
        deliver: Callable[[str, dict[str, Any]], Awaitable[None]],
        since_s: float,
    ) -> None:
        """Every message of ``topic`` to this process (not shared among replicas, as a
        durable consumer would be), starting ``since_s`` ago: a process that starts late
        still learns what happened while it was away."""
        from datetime import timedelta

        from nats.js.api import ConsumerConfig, DeliverPolicy

        from services.common.clock import system_now

        start = system_now() - timedelta(seconds=since_s)

        async def on_message(message) -> None:
            try:
                await deliver(message.headers.get("Nats-Msg-Id", ""), json.loads(message.data))
            except Exception:
                log.exception("event handling failed", extra={"topic": topic})

        subscription = await self.js.subscribe(
            f"gongjian.{topic}",
            cb=on_message,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start.isoformat()
            ),
        )
        self.subscriptions.append(subscription)

    async def close(self) -> None:
        self.closing = True
        for task in self.tasks:
            task.cancel()
        # A fetch in flight may swallow the cancellation; the flag ends its loop within a
        # fetch timeout either way.
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=2)
        for subscription in self.subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        if self.nc is not None:
            try:
                await asyncio.wait_for(self.nc.drain(), timeout=5)
            except (TimeoutError, Exception):  # closing anyway
                log.warning("NATS connection did not drain in time")


class Consumer:
    """One component's handlers, each run in a transaction of that component's database
    with the event id recorded in its inbox."""

    def __init__(self, name: str, database, inbox: Table) -> None:
        self.name = name
        self.database = database
        self.inbox = inbox
        self.handlers: dict[str, Handler] = {}
        self.publisher: OutboxPublisher | None = None

    def on(self, topic: str, handler: Handler) -> None:
        self.handlers[topic] = handler

    def deliverer(self, topic: str) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
        handler = self.handlers[topic]

        async def deliver(event_id: str, payload: dict[str, Any]) -> None:
            async with self.database.transaction() as session:
                seen = await session.scalar(
                    select(self.inbox.c.event_id).where(
                        self.inbox.c.event_id == event_id, self.inbox.c.consumer == self.name
                    )
                )
                if seen is not None:
                    return
                try:
                    async with session.begin_nested():
                        await session.execute(
                            insert(self.inbox).values(
                                event_id=event_id, consumer=self.name, processed_at=clock.now()
                            )
                        )
                except IntegrityError:
                    return  # handled concurrently by another replica
                await handler(session, payload)
                emitted = session.info.pop(EMITTED, False)
                after = session.info.pop(AFTER_COMMIT, [])
            for hook in after:
                try:
                    await hook()
                except Exception:
                    log.exception("a step after an event failed; its own sweep will retry")
            if emitted and self.publisher is not None:
                try:
                    await self.publisher.run_once()
                except Exception:
                    log.exception("publishing after an event failed; the sweep will retry")

        return deliver


class OutboxPublisher:
    """Moves a component's unpublished events to the bus, oldest first."""

    def __init__(self, database, outbox: Table, bus: Bus, batch: int = 100) -> None:
        self.database = database
        self.outbox = outbox
        self.bus = bus
        self.batch = batch
        self.task: asyncio.Task | None = None
        # One delivery run at a time in this process keeps the outbox's order on the bus.
        self._lock = asyncio.Lock()

    async def run_once(self) -> int:
        async with self._lock:
            return await self._deliver()

    async def _deliver(self) -> int:
        delivered = 0
        async with self.database.transaction(write=False) as session:
            rows = (
                await session.execute(
                    select(self.outbox)
                    .where(self.outbox.c.published_at.is_(None))
                    .order_by(self.outbox.c.created_at, self.outbox.c.id)
                    .limit(self.batch)
                )
            ).all()
        for row in rows:
            try:
                await self.bus.publish(row.id, row.topic, row.payload)
            except Exception:
                # The consumer (or the bus) is down: keep it, and keep the order.
                log.warning("event not delivered yet", extra={"event": row.id, "topic": row.topic})
                break
            async with self.database.transaction() as session:
                await session.execute(
                    update(self.outbox)
                    .where(self.outbox.c.id == row.id)
                    .values(published_at=clock.now())
                )
            delivered += 1
        return delivered

    def start(self, interval_s: float) -> None:
        async def loop() -> None:
            while True:
                try:
                    await self.run_once()
                except Exception:
                    log.exception("outbox publisher")
                await asyncio.sleep(interval_s)

        self.task = asyncio.create_task(loop())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
