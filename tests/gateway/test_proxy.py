"""The split mode's proxy on its own, in front of fake services: what it sends again and
what it never does, what a timeout and a busy pool answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time

from aiohttp import web

from gateway.proxy import AiohttpUpstream, Upstream, _Refused, _TimedOut, _Unreachable
from services.common.settings import Settings


def proxy_settings(**kw) -> Settings:
    return Settings(**({"env": "test"} | kw))


async def body_of(chunks: list[bytes]):
    for chunk in chunks:
        yield chunk


async def nothing() -> None:
    pass


class Scripted(Upstream):
    """An upstream whose service does what the test says, one outcome per attempt: an
    exception to raise, a coroutine function to wait on, or (when the script runs out) 200."""

    def __init__(self, settings: Settings, *outcomes) -> None:
        super().__init__("volunteer", "http://volunteer.test", settings)
        self.outcomes = list(outcomes)
        self.attempts = 0

    async def _open(self, method, path, query, headers, body):
        self.attempts += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Exception):
            raise outcome
        if outcome is not None:
            await outcome()
        return 200, [(b"content-type", b"application/json")], body_of([b"{}"]), nothing

    async def aclose(self) -> None:
        pass


def scope(method: str = "GET", headers: list | None = None) -> dict:
    return {
        "type": "http",
        "method": method,
        "path": "/api/v1/volunteer/activities",
        "query_string": b"",
        "headers": headers or [],
        "client": ("10.0.0.1", 40000),
    }


async def call(upstream, method: str = "GET", headers=None, receive=None, send=None):
    """-> (status, problem body or None) as the client saw it."""
    sent: list[dict] = []

    async def request() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def record(message: dict) -> None:
        sent.append(message)

    await upstream(scope(method, headers), receive or request, send or record)
    if not sent:
        return None, None
    body = b"".join(m.get("body", b"") for m in sent[1:])
    problem = json.loads(body) if sent[0]["status"] >= 400 else None
    return sent[0]["status"], problem


@contextlib.asynccontextmanager
async def closing(upstream):
    try:
        yield upstream
    finally:
        await upstream.aclose()


KEY = [(b"idempotency-key", b"k-1")]


async def test_a_refused_connect_is_tried_again_only_for_requests_that_may_be_repeated():
    s = proxy_settings(proxy_breaker_failures=100)
    for method, headers, attempts, status in (
        ("GET", None, 2, 200),
        ("DELETE", None, 2, 200),
        ("POST", KEY, 2, 200),  # the service answers a repeat with the first answer
        ("POST", None, 1, 503),
        ("PATCH", KEY, 1, 503),
    ):
        async with closing(Scripted(s, _Refused())) as upstream:
            got, problem = await call(upstream, method, headers)
            assert (got, upstream.attempts) == (status, attempts), method
            if problem:
                assert (problem["code"], problem["service"]) == (
                    "upstream.unavailable",
                    "volunteer",
                )


async def test_a_timeout_is_a_504_never_sent_again_whatever_the_method():
    s = proxy_settings(proxy_breaker_failures=100)
    for method, headers in (("GET", None), ("PUT", None), ("POST", KEY)):
        async with closing(Scripted(s, _TimedOut(), _TimedOut())) as upstream:
            status, problem = await call(upstream, method, headers)
            assert (status, upstream.attempts) == (504, 1), method
            assert (problem["code"], problem["service"]) == ("upstream.timeout", "volunteer")
    # A connection that broke after the request went out is not sent again either.
    async with closing(Scripted(s, _Unreachable(), _Unreachable())) as upstream:
        status, problem = await call(upstream, "GET")
        assert (status, upstream.attempts, problem["code"]) == (503, 1, "upstream.unavailable")


# --- the aiohttp upstream in front of a fake service on this machine -------------------------


@contextlib.asynccontextmanager
async def fake_service(delay_s: float = 0.0):
    """A service that answers 200 after ``delay_s``; it counts requests and the most it
    held at once."""
    seen = {"requests": 0, "in_flight": 0, "most": 0}

    async def handler(request: web.Request) -> web.Response:
        seen["requests"] += 1
        seen["in_flight"] += 1
        seen["most"] = max(seen["most"], seen["in_flight"])
        try:
            await asyncio.sleep(delay_s)
        finally:
            seen["in_flight"] -= 1
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_aiohttp_a_slow_answer_is_a_504_after_the_read_timeout_sent_once():
    s = proxy_settings(proxy_read_timeout_s=0.3, proxy_breaker_failures=100)
    async with (
        fake_service(delay_s=1.0) as (url, seen),
        closing(AiohttpUpstream("grid", url, s)) as upstream,
    ):
        started = time.monotonic()
        status, problem = await call(upstream, "GET")
        took = time.monotonic() - started
    assert (status, problem["code"], problem["service"]) == (504, "upstream.timeout", "grid")
    assert 0.3 <= took < 0.9, took
    assert seen["requests"] == 1


async def test_aiohttp_a_refused_connect_is_a_fast_503():
    s = proxy_settings(proxy_breaker_failures=100)
    url = f"http://127.0.0.1:{closed_port()}"
    async with closing(AiohttpUpstream("grid", url, s)) as upstream:
        started = time.monotonic()
        status, problem = await call(upstream, "GET")
    assert (status, problem["code"]) == (503, "upstream.unavailable")
    assert time.monotonic() - started < 1


async def test_aiohttp_a_wait_for_a_pooled_connection_is_not_the_services_fault():
    """One connection, two requests: the second waits its turn. A wait that runs out is a
    503 upstream.busy that the breaker never hears of."""
    async with fake_service(delay_s=0.4) as (url, seen):
        patient = proxy_settings(proxy_pool_size=1, proxy_pool_wait_s=5)
        async with closing(AiohttpUpstream("grid", url, patient)) as upstream:
            answers = await asyncio.gather(call(upstream), call(upstream))
            assert [status for status, _ in answers] == [200, 200]
            assert (seen["requests"], seen["most"]) == (2, 1)

        hasty = proxy_settings(proxy_pool_size=1, proxy_pool_wait_s=0.1)
        async with closing(AiohttpUpstream("grid", url, hasty)) as upstream:
            answers = await asyncio.gather(call(upstream), call(upstream))
            assert sorted(status for status, _ in answers) == [200, 503]
            assert [p["code"] for _, p in answers if p] == ["upstream.busy"]
            assert upstream.breaker.failures == 0 and upstream.breaker.opened_at is None
