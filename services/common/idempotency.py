"""Idempotency-Key for creating POSTs.

The first request with a key claims it (a row with no response yet), runs, and stores its
response; a replay with the same key and body gets that response back, status and body,
and creates nothing. The same key with another body is a 422; a replay while the first is
still running is a 409. Keys are per caller and live ``idempotency_ttl_s`` (24 h).

It is ASGI middleware over a component's own database, so the key is kept next to the data
it protects and works the same in one process or many.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.auth import decode_access_token
from services.common.clock import clock
from services.common.database import UTCDateTime
from services.common.errors import AppError, problem

log = logging.getLogger("gongjian.idempotency")

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_KEPT_HEADERS = ("content-type", "location", "etag")


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("principal", String(64), nullable=False),
        Column("key", String(255), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status", Integer, nullable=True),
        Column("headers", Text, nullable=True),
        Column("body", LargeBinary, nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("expires_at", UTCDateTime(), nullable=False, index=True),
        PrimaryKeyConstraint("principal", "key"),
    )


# The status kept for a key whose answer was no-store: a replay runs the request again.
RUN_AGAIN = 0


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, state: Any, skip_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.state = state  # the app's state: .database, .settings, .idempotency_table
        self.skip_prefixes = skip_prefixes
        self._calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        if key is None or scope["path"].startswith(self.skip_prefixes):
            return await self.app(scope, receive, send)
        if not _KEY.match(key):
            return await problem(422, "idempotency.key_invalid")(scope, receive, send)
        principal = self._principal(headers)
        if principal is None:  # the route will answer 401; nothing to remember
            return await self.app(scope, receive, send)

        body = await _read_body(receive)
        digest = hashlib.sha256()
        digest.update(f"{scope['path']}?{scope.get('query_string', b'').decode()}\n".encode())
        digest.update(_canonical_body(headers.get("content-type", ""), body))
        request_hash = digest.hexdigest()

        try:
            claimed = await self._claim(principal, key, request_hash)
        except AppError as exc:
            return await problem(exc.status, exc.code)(scope, receive, send)
        if claimed is not None:  # a replay: answer what the first request answered
            status, stored_headers, stored_body = claimed
            raw_headers = [(k.encode(), v.encode()) for k, v in stored_headers]
            raw_headers.append((b"idempotent-replayed", b"true"))
            await send({"type": "http.response.start", "status": status, "headers": raw_headers})
            await send({"type": "http.response.body", "body": stored_body})
            return

        sent_body = False

        async def replay_receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        captured: dict[str, Any] = {
            "status": 500,
            "headers": [],
            "body": bytearray(),
            "no_store": False,
        }

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["no_store"] = any(
                    k.lower() == b"cache-control" and b"no-store" in v.lower()
                    for k, v in message.get("headers", [])
                )
                captured["headers"] = [
                    (k.decode().lower(), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if k.decode().lower() in _KEPT_HEADERS
                ]
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        except BaseException:
            await self._release(principal, key)
            raise
        status = captured["status"]
        # A 5xx, or an answer about the caller rather than the request, may be retried. An
        # answer marked no-store (full personal data) is never kept: a retry reads again,
        # and is audited again.
        if status >= 500 or status in (401, 403, 429):
            await self._release(principal, key)
        elif captured["no_store"]:
            # The key keeps what was asked (another body is still a reuse), not the answer.
            await self._store(principal, key, RUN_AGAIN, [], b"")
        else:
            await self._store(principal, key, status, captured["headers"], bytes(captured["body"]))

    def _principal(self, headers: dict[str, str]) -> str | None:
        token = None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if not token:
            return None
        try:
            return decode_access_token(token, self.state.settings).user_id
        except AppError:
            return None

    @property
    def _table(self) -> Table:
        return self.state.idempotency_table

    async def _claim(self, principal: str, key: str, request_hash: str):
        """Claim the key, or return the stored (status, headers, body) of its first use."""
        now = clock.now()
        table = self._table
        for _ in range(2):
            async with self.state.database.transaction() as session:
                row = (
                    await session.execute(
                        select(table).where(table.c.principal == principal, table.c.key == key)
                    )
                ).first()
                if row is not None and row.expires_at <= now:
                    await session.execute(
                        delete(table).where(table.c.principal == principal, table.c.key == key)
                    )
                    row = None
                if row is not None:
                    if row.request_hash != request_hash:
                        raise AppError("idempotency.key_reused", 422)
                    if row.status is None:
                        raise AppError("idempotency.in_progress", 409)
                    if row.status == RUN_AGAIN:
                        # Its answer was not kept (no-store): the replay runs again, and
                        # holds the key while it does.
                        claimed = await session.execute(
                            update(table)
                            .where(
                                table.c.principal == principal,
                                table.c.key == key,
                                table.c.status == RUN_AGAIN,
                            )
                            .values(status=None)
                        )
                        if claimed.rowcount:
                            return None
                        raise AppError("idempotency.in_progress", 409)
                    return row.status, json.loads(row.headers or "[]"), row.body or b""
                try:
                    async with session.begin_nested():
                        await session.execute(
                            insert(table).values(
                                principal=principal,
                                key=key,
                                request_hash=request_hash,
                                created_at=now,
                                expires_at=now
                                + timedelta(seconds=self.state.settings.idempotency_ttl_s),
                            )
                        )
                except IntegrityError:
                    continue  # claimed by a concurrent request a moment ago: read it again
                self._calls += 1
                if self._calls % 500 == 0:
                    await session.execute(delete(table).where(table.c.expires_at <= now))
                return None
        raise AppError("idempotency.in_progress", 409)

    async def _store(self, principal: str, key: str, status: int, headers, body: bytes) -> None:
        table = self._table
        async with self.state.database.transaction() as session:
            await session.execute(
                update(table)
                .where(table.c.principal == principal, table.c.key == key)
                .values(status=status, headers=json.dumps(headers), body=body)
            )

    async def _release(self, principal: str, key: str) -> None:
        table = self._table
        try:
            async with self.state.database.transaction() as session:
                await session.execute(
                    delete(table).where(table.c.principal == principal, table.c.key == key)
                )
        except Exception:  # the claim then simply expires
            log.exception("could not release idempotency key")


def _canonical_body(content_type: str, body: bytes) -> bytes:
    """A multipart retry carries a new random boundary around the same parts; it is the same
    request, so the boundary does not count."""
    if content_type.startswith("multipart/"):
        for part in content_type.split(";"):
            name, _, value = part.strip().partition("=")
            if name.lower() == "boundary" and value:
                return body.replace(value.strip('"').encode("latin-1"), b"BOUNDARY")
    return body


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
