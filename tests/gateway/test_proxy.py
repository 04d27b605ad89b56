"""The split mode's proxy on its own, in front of fake services: what a busy pool answers."""

from __future__ import annotations

import asyncio
import contextlib
import json

from aiohttp import web

from gateway.proxy import AiohttpUpstream
from services.common.settings import Settings


def proxy_settings(**kw) -> Settings:
    return Settings(**({"env": "test"} | kw))


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
