"""The split mode's upstream: an ASGI app that forwards to a service over HTTP with one
pooled client, per-upstream timeouts, retries only where they are safe, and a circuit
breaker, so that a dead service costs a fast 503 and the others keep answering.

Three waits, three limits (settings ``proxy_pool_wait_s``, ``proxy_connect_timeout_s``,
``proxy_read_timeout_s``), three answers:

- no pooled connection came free in time: the gateway is busy, not the service, so it is
  a 503 ``upstream.busy`` that the breaker never hears of;
- the TCP connect failed or took too long: the service cannot be reached, a 503
  ``upstream.unavailable``; a refused connect sent nothing, so a request that may be
  repeated (an idempotent method, a POST with an ``Idempotency-Key``) is tried again once;
- the answer did not come in time: a 504 ``upstream.timeout``, never retried and never
  dressed as a 503, because the service may have done what was asked.

The HTTP client is aiohttp, chosen by measurement (bench/gateway.py, results in
bench/results/gateway.json): at 64 concurrent clients the gateway spent ~0.9 ms of CPU per
proxied request on aiohttp against ~6.5 ms on httpx 0.28, whose connection pool grows costly
with concurrency (encode/httpx#3215). The httpx upstream stays for that comparison and
behind ``GONGJIAN_PROXY_CLIENT=httpx``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import httpx
from starlette.types import Receive, Scope, Send

from services.common.errors import problem
from services.common.settings import Settings

log = logging.getLogger("gongjian.proxy")

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)


@dataclass(eq=False)
class Admission:
    """A request let through by the breaker; ``trial`` when it is the half-open trial."""

    trial: bool
    at: float = field(default=0.0)


_CLOSED = Admission(trial=False)


class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures; open answers at once for
    ``cooldown_s``; then one trial request at a time decides (half-open). The upstream also
    closes it as soon as the service's ``/readyz`` answers (see ``Upstream._watch``).

    Nothing may leave it stuck open: a trial ends with a verdict (``success``,
    ``failure``) or is let go by ``release`` whatever became of it (its client went away,
    an error nobody foresaw), and a trial older than ``trial_timeout_s`` is presumed lost
    and no longer holds the others back. Pure logic: the caller says what time it is."""

    def __init__(
        self, threshold: int = 5, cooldown_s: float = 5.0, trial_timeout_s: float = 10.0
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.trial_timeout_s = trial_timeout_s
        self.failures = 0
        self.opened_at: float | None = None
        self.trial: Admission | None = None

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def allow(self, now: float) -> Admission | None:
        """An admission to keep and hand back to ``release``, or None: answer at once."""
        if self.opened_at is None:
            return _CLOSED
        if now - self.opened_at < self.cooldown_s:
            return None
        if self.trial is not None and now - self.trial.at < self.trial_timeout_s:
            return None  # one trial at a time, unless the last one is long lost
        self.trial = Admission(trial=True, at=now)
        return self.trial

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial = None

    def failure(self, now: float) -> None:
        self.failures += 1
        self.trial = None
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = now

    def release(self, admission: Admission) -> None:
        """The request is over, however it ended: a trial that gave no verdict makes way."""
        if self.trial is admission:
            self.trial = None


class _Refused(Exception):
    """The connection could not be made (refused, no route, no such host): nothing was
    sent, so a request that may be repeated can be tried again."""


class _Unreachable(Exception):
    """The connect timed out, or the connection broke: a 503, not retried."""


class _TimedOut(Exception):
    """The request went out and no answer came in time: it may have been done. A 504."""


class _PoolBusy(Exception):
    """No pooled connection came free in time: the gateway's fault, not the service's."""


class Upstream:
    """What every proxy client shares: the pool's queue, the breaker and its watcher, the
    body, the retries, the relay. A client subclass says only how to open a response and
    how to ask ``/readyz``."""

    def __init__(self, name: str, base_url: str, settings: Settings) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.retries = settings.proxy_retries
        self.breaker = CircuitBreaker(
            settings.proxy_breaker_failures,
            settings.proxy_breaker_cooldown_s,
            trial_timeout_s=settings.proxy_read_timeout_s,
        )
        self._watcher: asyncio.Task | None = None
        self.pool_size = settings.proxy_pool_size
        # The pool's queue is ours, not the client library's, so that a wait for a
        # connection has its own limit and its own answer (aiohttp's ``connect`` timeout
        # would cover both the wait and the TCP connect, and raise the same error for each).
        self._pool = asyncio.Semaphore(self.pool_size)

    async def _open(self, method: str, path: str, query: str, headers: list, body: bytes):
        """-> (status, raw header pairs, async iterator of body chunks, async closer).
        Raises _Refused, _Unreachable or _TimedOut."""
        raise NotImplementedError

    async def _ready(self) -> bool:
        """Whether the service's ``/readyz`` answers 200 now."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        admission = self.breaker.allow(time.monotonic())
        if admission is None:
            self._watch()
            return await self._problem(scope, receive, send, 503, "upstream.unavailable")
        try:
            await self._forward(scope, receive, send)
        finally:
            # Whatever happened (a verdict, the client gone, an error, a cancellation), the
            # trial makes way, and an open breaker has its watcher.
            self.breaker.release(admission)
            if self.breaker.is_open:
                self._watch()

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", client[0].encode()))
        query = scope.get("query_string", b"").decode("latin-1")
        method = scope["method"]
        repeatable = method in IDEMPOTENT or (
            method == "POST" and any(k.lower() == b"idempotency-key" for k, _ in headers)
        )
        attempts = 1 + (self.retries if repeatable else 0)
        request = (method, scope["path"], query, headers, bytes(body))
        try:
            async with self._pooled():
                try:
                    opened = await self._open_retrying(attempts, *request)
                except (_Refused, _Unreachable) as exc:
                    failed, reason = (503, "upstream.unavailable"), str(exc)
                except _TimedOut as exc:
                    failed, reason = (504, "upstream.timeout"), str(exc)
                else:
                    return await self._relay(*opened, send)
        except _PoolBusy:
            log.warning("gateway pool busy", extra={"service": self.name, "method": method})
            return await self._problem(scope, receive, send, 503, "upstream.busy")
        self.breaker.failure(time.monotonic())
        log.warning(
            "upstream failed",
            extra={"service": self.name, "method": method, "code": failed[1], "reason": reason},
        )
        await self._problem(scope, receive, send, *failed)

    async def _open_retrying(self, attempts: int, *request):
        """Only a refused connect is tried again: nothing was sent. After a timeout or a
        broken connection the service may have done the work, so never."""
        for attempt in range(attempts):
            try:
                return await self._open(*request)
            except _Refused:
                if attempt + 1 == attempts:
                    raise

    async def _relay(self, status: int, raw, chunks: AsyncIterator[bytes], close, send) -> None:
        try:
            kept = [(k, v) for k, v in raw if k.lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": status, "headers": kept})
            try:
                async for chunk in chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except (_Unreachable, _TimedOut):
                # The status is already out; the only honest thing left is to break the
                # connection, so that the client cannot take a truncated body for a whole one.
                self.breaker.failure(time.monotonic())
                log.warning("upstream broke off an answer", extra={"service": self.name})
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await close()
        if status >= 500:
            self.breaker.failure(time.monotonic())
        else:
            self.breaker.success()

    @contextlib.asynccontextmanager
    async def _pooled(self) -> AsyncIterator[None]:
        if self._pool.locked():  # every connection is in use: wait, for so long
            try:
                async with asyncio.timeout(self.settings.proxy_pool_wait_s):
                    await self._pool.acquire()
            except TimeoutError:
                raise _PoolBusy() from None
        else:
            await self._pool.acquire()
        try:
            yield
        finally:
            self._pool.release()

    def _watch(self) -> None:
        """While the breaker is open, one background task asks ``/readyz``."""
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._probe_until_ready())

    async def _probe_until_ready(self) -> None:
        while self.breaker.is_open:
            try:
                ready = await self._ready()
            except Exception:  # a probe must never end the watch
                log.exception("probe failed", extra={"service": self.name})
                ready = False
            if ready:
                if self.breaker.is_open:
                    log.info("upstream ready again", extra={"service": self.name})
                self.breaker.success()
                return
            await asyncio.sleep(self.settings.proxy_probe_interval_s)

    async def _problem(self, scope, receive, send, status: int, code: str) -> None:
        headers = {"Retry-After": "1" if code == "upstream.busy" else "2"}
        response = problem(
            status,
            code,
            headers=None if status == 504 else headers,
            extra={"service": self.name},
            service=self.name,
        )
        await response(scope, receive, send)

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher


class HttpxUpstream(Upstream):
    """The same upstream on httpx, kept for the measurement in bench/gateway.py."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        s = self.settings
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(
                s.proxy_read_timeout_s, connect=s.proxy_connect_timeout_s, pool=None
            ),
            # The queue for a connection is the upstream's own (Upstream._pooled).
            limits=httpx.Limits(
                max_connections=None,
                max_keepalive_connections=self.pool_size,
                keepalive_expiry=s.proxy_pool_idle_s,
            ),
        )

    async def _open(self, method, path, query, headers, body):
        request = self.client.build_request(
            method, path, params=query or None, headers=headers, content=body
        )
        try:
            response = await self.client.send(request, stream=True)
        except httpx.ConnectError:
            raise _Refused() from None
        except httpx.ConnectTimeout:
            raise _Unreachable() from None
        except httpx.TimeoutException:
            raise _TimedOut() from None
        except (httpx.NetworkError, httpx.RemoteProtocolError):
            raise _Unreachable() from None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            except httpx.TimeoutException:
                raise _TimedOut() from None
            except (httpx.NetworkError, httpx.RemoteProtocolError):
                raise _Unreachable() from None

        return response.status_code, response.headers.raw, chunks(), response.aclose

    async def _ready(self) -> bool:
        try:
            r = await self.client.get("/readyz", timeout=self.settings.proxy_connect_timeout_s)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    async def aclose(self) -> None:
        await super().aclose()
        await self.client.aclose()


class AiohttpUpstream(Upstream):
    """The default: one aiohttp session (one connection pool) per upstream."""

    _session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop that serves requests.
        if self._session is None:
            s = self.settings
            self._session = aiohttp.ClientSession(
                # No limit of aiohttp's own: a request reaches it holding one of the
                # upstream's pool places, so it never waits here (a wait aiohttp would time
                # with ``connect`` and report as a failed connect).
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=s.proxy_pool_idle_s),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=None,
                    sock_connect=s.proxy_connect_timeout_s,
                    sock_read=s.proxy_read_timeout_s,
                ),
                auto_decompress=False,
            )
        return self._session

    async def _open(self, method, path, query, headers, body):
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        text_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        try:
            response = await self.session().request(method, url, headers=text_headers, data=body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _aiohttp_failure(exc) from None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.content.iter_any():
                    yield chunk
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _aiohttp_failure(exc) from None

        async def close() -> None:
            response.release()

        return response.status, response.raw_headers, chunks(), close

    async def _ready(self) -> bool:
        timeout = aiohttp.ClientTimeout(total=self.settings.proxy_connect_timeout_s)
        try:
            async with self.session().get(f"{self.base_url}/readyz", timeout=timeout) as r:
                return r.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def aclose(self) -> None:
        await super().aclose()
        if self._session is not None:
            await self._session.close()


def _aiohttp_failure(exc: Exception) -> Exception:
    """aiohttp's error, in the proxy's terms. The order matters: its timeouts are connection
    errors too (``ServerTimeoutError`` is both a ``ClientConnectionError`` and a
    ``TimeoutError``), and a connect that timed out is a ``ServerTimeoutError`` as well."""
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, no route, no such host
        return _Refused(reason)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # the TCP connect took too long
        return _Unreachable(reason)
    if isinstance(exc, TimeoutError):  # sock_read: sent, and no answer in time
        return _TimedOut(reason)
    return _Unreachable(reason)  # reset, closed, or an answer that is not HTTP
