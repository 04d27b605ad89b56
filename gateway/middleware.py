"""Edge protections the gateway applies before anything reaches a service: body-size limits
(413) and rate limits per user and per IP (429 with Retry-After; gateway/ratelimits.py)."""

from __future__ import annotations

import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.ratelimits import EdgeLimits
from services.common.auth import decode_access_token
from services.common.clientaddr import client_address
from services.common.errors import AppError, TooManyRequests, problem
from services.common.settings import Settings

_UNLIMITED_PATHS = ("/healthz", "/readyz", "/metrics")


def too_many(wait: float):
    retry = max(1, math.ceil(wait))
    return problem(
        429, "request.rate_limited", headers={"Retry-After": str(retry)}, retry_after=retry
    )


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, settings: Settings, limits: EdgeLimits) -> None:
        self.app = app
        self.settings = settings
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNLIMITED_PATHS:
            return await self.app(scope, receive, send)
        address = client_address(scope, self.settings.trusted_proxies)
        scope.setdefault("state", {})["client_address"] = address
        wait = self.limits.request(address=address, user=self._user(scope))
        if wait:
            return await too_many(wait)(scope, receive, send)
        await self.app(scope, receive, send)

    def _user(self, scope: Scope) -> str | None:
        for key, value in scope["headers"]:
            if key == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    try:
                        return decode_access_token(token.strip(), self.settings).user_id
                    except AppError:
                        return None
        return None


def check_login_rate(limits: EdgeLimits, *, address: str, username: str) -> None:
    """Password guessing costs the guesser: a few attempts a minute per client address and
    per username, whatever the outcome, before any hashing is done."""
    wait = limits.login(address=address, username=username)
    if wait:
        retry = max(1, math.ceil(wait))
        raise TooManyRequests(
            "request.rate_limited", headers={"Retry-After": str(retry)}, retry_after=retry
        )


class BodyLimitMiddleware:
    """Refuses a body over the limit for its path, by Content-Length when it is given and by
    counting when it is streamed."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        overhead = 64 * 1024  # multipart boundaries and headers around an upload
        self.limits = (
            ("/api/v1/files", settings.max_upload_bytes + overhead),
            ("/api/v1/registry/imports", settings.max_import_bytes + overhead),
        )
        self.default = settings.max_body_bytes

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                return await problem(413, "request.too_large", limit=limit)(scope, receive, send)
        received = 0
        started = exceeded = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Tell the app the client is gone; the 413 is ours to send.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await problem(413, "request.too_large", limit=limit)(scope, receive, send)
