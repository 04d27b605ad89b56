"""The gateway app: its own endpoints (auth, me, users, files), the edge middleware, the
merged OpenAPI document, and the routing of ``/api/v1/<service>/...`` to the services."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp

from gateway.api import router
from gateway.consumers import consumer
from gateway.middleware import BodyLimitMiddleware, RateLimitMiddleware
from gateway.models import Base
from gateway.notifications.api import router as notifications_router
from gateway.notifications.providers import FakeSubscribeProvider
from gateway.notifications.providers import provider_from_settings as subscribe_provider
from gateway.notifications.service import NotificationSender
from gateway.openapi import merge_openapi
from gateway.ratelimits import EdgeLimits, minute_counts
from gateway.routing import UpstreamDispatchMiddleware, service_prefixes
from gateway.service import bound_hashing
from services.common.app import create_component_app
from services.common.openapi import document_problems
from services.common.peers import Peers
from services.common.settings import SERVICE_NAMES, Settings, get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def embedded_services(settings: Settings) -> dict[str, FastAPI]:
    """Every service app, to be called in process."""
    from services.assessment.app import create_app as assessment
    from services.grid.app import create_app as grid
    from services.registry.app import create_app as registry
    from services.volunteer.app import create_app as volunteer

    factories = {
        "registry": registry,
        "grid": grid,
        "volunteer": volunteer,
        "assessment": assessment,
    }
    return {name: factories[name](settings) for name in SERVICE_NAMES}


async def fetch_remote_openapi(app: FastAPI) -> None:
    """The services' documents, fetched when the gateway starts in the split mode."""
    settings: Settings = app.state.settings
    docs = {}
    for name, url in settings.peer_urls.items():
        if name == "gateway" or settings.mode != "split":
            continue
        try:
            r = await app.state.http_client.get(f"{url.rstrip('/')}/openapi.json", timeout=2.0)
            docs[name] = r.json()
        except (httpx.HTTPError, ValueError):
            continue  # a service that is down is left out of the document
    app.state.remote_docs = docs


def split_upstreams(settings: Settings) -> dict[str, ASGIApp]:
    """In the split mode each service is a process of its own, reached over HTTP, with the
    client ``GONGJIAN_PROXY_CLIENT`` names (aiohttp; see gateway/proxy.py for why)."""
    from gateway.proxy import AiohttpUpstream, HttpxUpstream

    upstream = HttpxUpstream if settings.proxy_client == "httpx" else AiohttpUpstream
    return {
        name: upstream(name, url, settings)
        for name, url in settings.peer_urls.items()
        if name != "gateway"
    }


def create_app(
    settings: Settings | None = None, *, upstreams: Mapping[str, ASGIApp] | None = None
) -> FastAPI:
    settings = settings or get_settings()
    if upstreams is None and settings.mode == "split":
        upstreams = split_upstreams(settings)
    services = embedded_services(settings) if upstreams is None else {}
    routes: Mapping[str, ASGIApp] = services if upstreams is None else upstreams
    limits = EdgeLimits(settings)

    async def open_client(app: FastAPI) -> None:
        app.state.http_client = httpx.AsyncClient(timeout=10.0)
        app.state.rate_limits_task = asyncio.create_task(limits.run())
        sender = app.state.notification_sender
        sender.provider = subscribe_provider(settings, app.state.http_client)
        if settings.outbox_poll_s > 0:
            sender.start(max(settings.outbox_poll_s, 5.0))
        bound_hashing(settings.password_hash_concurrency)

    async def close_client(app: FastAPI) -> None:
        app.state.rate_limits_task.cancel()
        app.state.notification_sender.stop()
        await app.state.http_client.aclose()
        for upstream in routes.values():
            if hasattr(upstream, "aclose"):
                await upstream.aclose()

    app = create_component_app(
        "gateway",
        title="Gongjian 共建 API",
        metadata=Base.metadata,
        routers=[router, notifications_router],
        settings=settings,
        idempotency_skip=service_prefixes(routes),
        on_startup=[open_client, fetch_remote_openapi],
        consumer=consumer,
        on_shutdown=[close_client],
        # Innermost first: dispatch sits just outside the gateway's own idempotency, so a
        # service request reaches the service untouched; limits and gzip wrap everything.
        middleware=[
            (UpstreamDispatchMiddleware, {"upstreams": routes}),
            (BodyLimitMiddleware, {"settings": settings}),
            (RateLimitMiddleware, {"settings": settings, "limits": limits}),
            (GZipMiddleware, {"minimum_size": 1024}),
        ],
    )
    app.state.embedded_apps = list(services.values())
    limits.use(minute_counts(settings, app.state.database))
    # The sender exists before the consumer is wired (its handlers hand it on); its
    # provider, which needs the HTTP client, is set at start-up.
    app.state.notification_sender = NotificationSender(
        app.state.database, FakeSubscribeProvider(), settings
    )
    app.state.edge_limits = limits
    # In process, events travel on one in-process bus (NATS when configured instead).
    if services and not settings.nats_url:
        from services.common.events import InProcessBus

        bus = InProcessBus()
        for component in [app, *services.values()]:
            component.state.bus = bus
    # In process, every component reaches every other through its app, the gateway included.
    peers = {**services, "gateway": app}
    for name, sub in [*services.items(), ("gateway", app)]:
        sub.state.peers = Peers(settings, name, apps=peers, urls=settings.peer_urls)
    app.state.upstreams = routes

    def openapi() -> dict:
        if app.openapi_schema is None:
            base = document_problems(FastAPI.openapi(app))
            docs = {name: sub.openapi() for name, sub in services.items()}
            docs = docs or getattr(app.state, "remote_docs", {})
            app.openapi_schema = merge_openapi(base, docs)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
