"""The split mode's proxy on its own: the breaker as pure logic on an injected clock, and the
upstream in front of fake services — what it sends again and what it never does, what a
timeout and a busy pool answer, and that nothing leaves the breaker stuck open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time

from aiohttp import web

from gateway.proxy import (
    AiohttpUpstream,
    CircuitBreaker,
    Upstream,
    _Refused,
    _TimedOut,
    _Unreachable,
)
from services.common.settings import Settings

# --- the breaker, on an injected clock -------------------------------------------------------


def opened(threshold: int = 1, at: float = 0.0) -> CircuitBreaker:
    breaker = CircuitBreaker(threshold=threshold, cooldown_s=5, trial_timeout_s=10)
    for _ in range(threshold):
        assert breaker.allow(at)
        breaker.failure(at)
    assert breaker.is_open
    return breaker


def test_the_breaker_opens_answers_at_once_while_cooling_then_lets_one_trial_decide():
    breaker = opened(threshold=3)
    assert breaker.allow(4.9) is None  # cooling down: answered at once
    trial = breaker.allow(5.0)
    assert trial and trial.trial
    assert breaker.allow(5.1) is None  # one trial at a time
    breaker.failure(5.2)  # the trial failed: open again, cooling from now
    assert breaker.allow(10.1) is None
    assert breaker.allow(10.3).trial
    breaker.success()
    assert not breaker.is_open
    assert breaker.allow(10.4) and not breaker.allow(10.4).trial


def test_a_trial_that_ends_without_a_verdict_makes_way_at_once():
    """Its client went away, or something nobody foresaw went wrong: no verdict, so the
    breaker stays open, but the next request is the trial."""
    breaker = opened()
    trial = breaker.allow(5)
    assert breaker.allow(5.1) is None
    breaker.release(trial)
    assert breaker.is_open
    assert breaker.allow(5.2).trial


def test_a_trial_that_never_comes_back_holds_no_one_back_after_the_read_timeout():
    breaker = opened()
    assert breaker.allow(5).trial  # and never heard of again
    assert breaker.allow(14.9) is None
    assert breaker.allow(15.1).trial


def test_a_request_let_through_before_the_breaker_opened_does_not_end_the_trial():
    breaker = CircuitBreaker(threshold=1, cooldown_s=5, trial_timeout_s=10)
    early = breaker.allow(0)
    breaker.failure(0)
    trial = breaker.allow(5)
    breaker.release(early)  # the early request ends while the trial runs
    assert breaker.allow(5.1) is None
    breaker.release(trial)
    assert breaker.allow(5.2).trial


# --- the upstream in front of a scripted service ---------------------------------------------


def proxy_settings(**kw) -> Settings:
    defaults = dict(
        env="test",
        proxy_breaker_failures=1,
        proxy_breaker_cooldown_s=0,  # the next request after a failure is the trial
        proxy_probe_interval_s=0.05,
    )
    return Settings(**(defaults | kw))


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
        self.ready = False

    async def _open(self, method, path, query, headers, body):
        self.attempts += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Exception):
            raise outcome
        if outcome is not None:
            await outcome()
        return 200, [(b"content-type", b"application/json")], body_of([b"{}"]), nothing

    async def _ready(self) -> bool:
        return self.ready


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


async def test_a_half_open_trial_whose_client_goes_away_does_not_leave_the_breaker_stuck():
    async with closing(Scripted(proxy_settings(), _Refused(), _Refused())) as upstream:
        assert (await call(upstream))[0] == 503
        assert upstream.breaker.is_open

        async def gone() -> dict:
            return {"type": "http.disconnect"}

        assert await call(upstream, receive=gone) == (None, None)  # the trial's client left
        assert (await call(upstream))[0] == 200  # the next request is the trial, and passes
        assert not upstream.breaker.is_open


async def test_a_half_open_trial_cancelled_or_failing_unexpectedly_does_not_either():
    never = asyncio.Event()
    async with closing(Scripted(proxy_settings(), _Refused(), _Refused(), never.wait)) as up:
        assert (await call(up))[0] == 503
        trial = asyncio.create_task(call(up))
        deadline = time.monotonic() + 5
        while up.attempts < 3:  # the trial is waiting on the service
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        trial.cancel()  # e.g. the server cancels the request as its client goes
        with contextlib.suppress(asyncio.CancelledError):
            await trial

        async def broken(message: dict) -> None:
            raise RuntimeError("the client's socket broke")

        up.outcomes = [None]
        with contextlib.suppress(RuntimeError):
            await call(up, send=broken)  # a trial ended by an error nobody foresaw
        assert up.breaker.is_open
        assert (await call(up))[0] == 200
        assert not up.breaker.is_open


async def test_an_open_breaker_closes_soon_after_the_service_says_it_is_ready():
    s = proxy_settings(proxy_breaker_cooldown_s=60)  # no trial: only the probe can close it
    async with closing(Scripted(s, _Refused(), _Refused())) as upstream:
        assert (await call(upstream))[0] == 503
        assert (await call(upstream))[0] == 503  # answered at once: no attempt
        assert upstream.attempts == 2
        await asyncio.sleep(0.2)
        assert upstream.breaker.is_open  # /readyz says no
        upstream.ready = True
        started = time.monotonic()
        while upstream.breaker.is_open:
            assert time.monotonic() - started < 1
            await asyncio.sleep(0.01)
        assert (await call(upstream))[0] == 200


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
            assert upstream.breaker.failures == 0 and not upstream.breaker.is_open
