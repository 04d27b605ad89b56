"""What every component's FastAPI app has in common: settings and database on ``app.state``,
problem+json errors, request context, idempotency, ``/healthz``, ``/readyz``, ``/metrics``,
and operation ids that read well in a generated mini-program client."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import MetaData

from services.common.clock import clock
from services.common.database import Database
from services.common.errors import install_error_handlers, problem
from services.common.guards import NulGuardMiddleware
from services.common.idempotency import IdempotencyMiddleware
from services.common.observability import RequestContextMiddleware, metrics_response
from services.common.openapi import document_problems
from services.common.peers import Peers
from services.common.pii import PiiCipher
from services.common.settings import Settings, get_settings
from services.common.storage import object_store

StartupHook = Callable[[FastAPI], Any]
log = logging.getLogger("gongjian.app")

# The collector's first threshold (Python's is 700 new containers): a roster's batch makes
# tens of thousands of short-lived dicts and tuples, and at 700 the collector ran through
# them ~50 times a batch and through the whole heap every few batches (2 s of a 50,000-row
# import; 0.06 s at this threshold). The older generations keep Python's ratios.
GC_YOUNG_THRESHOLD = 10_000


def settle_garbage_collector() -> None:
    """Once the app has started: what start-up made (modules, routes, the ORM's mappers,
    ~200,000 objects) lives as long as the process, so the collector stops walking it
    (``gc.freeze``), and young objects are collected in larger sweeps."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def operation_id(route: APIRoute) -> str:
    """``registry-list_residents`` rather than FastAPI's path-derived default."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


async def start_events(app: FastAPI, consumer_factory) -> None:
    """The outbox publisher and the event consumers of one component. With NATS, the
    component serves at once and connects in the background, trying again until the broker
    answers; events written meanwhile wait in the outbox. In the split mode a component
    that publishes or consumes events refuses to start without a broker: its events would
    be lost without a word."""
    settings: Settings = app.state.settings
    if app.state.bus is None and settings.nats_url:
        from services.common.events import NatsBus

        bus = NatsBus(settings.nats_url)
        app.state.bus, app.state.owns_bus = bus, True
        app.state.events_task = asyncio.create_task(_connect_and_wire(app, bus, consumer_factory))
        return
    if app.state.bus is None:
        has_events = "outbox" in app.state.metadata.tables or consumer_factory is not None
        if settings.mode == "split" and has_events:
            raise RuntimeError(
                f"{app.state.component}: the split mode needs GONGJIAN_NATS_URL (make run-split "
                "starts NATS itself); without a broker its events would never be delivered"
            )
        return
    await _wire(app, app.state.bus, consumer_factory)


async def _connect_and_wire(app: FastAPI, bus, consumer_factory) -> None:
    while True:
        try:
            await bus.connect()  # retries by itself until the broker answers
            break
        except Exception:
            log.warning("NATS unreachable; serving on, the outbox keeps the events")
            await asyncio.sleep(1.0)
    await _wire(app, bus, consumer_factory)


async def _wire(app: FastAPI, bus, consumer_factory) -> None:
    from services.common.events import REVOKED, InProcessBus, apply_revocation

    settings: Settings = app.state.settings
    # Every process learns which logins were revoked (services.common.auth.revocations).
    if isinstance(bus, InProcessBus):
        bus.subscribe(REVOKED, apply_revocation)
    else:
        await bus.follow(REVOKED, apply_revocation, since_s=settings.access_token_ttl_s)
    outbox = app.state.metadata.tables.get("outbox")
    if outbox is not None:
        from services.common.events import OutboxPublisher

        app.state.publisher = OutboxPublisher(app.state.database, outbox, bus)
        if settings.outbox_poll_s > 0:
            app.state.publisher.start(settings.outbox_poll_s)
    if consumer_factory is not None:
        from services.common.events import InProcessBus

        consumer = consumer_factory(app)
        consumer.publisher = app.state.publisher  # what a handler emits leaves at once
        app.state.consumer = consumer
        for topic in consumer.handlers:
            if isinstance(bus, InProcessBus):
                bus.subscribe(topic, consumer.deliverer(topic))
            else:
                await bus.consume(consumer.name, topic, consumer.deliverer(topic))


async def stop_events(app: FastAPI) -> None:
    task = getattr(app.state, "events_task", None)
    if task is not None and not task.done():
        task.cancel()
    if app.state.publisher is not None:
        await app.state.publisher.stop()
    if app.state.owns_bus:
        await app.state.bus.close()


def create_component_app(
    component: str,
    *,
    title: str,
    metadata: MetaData,
    routers: Sequence[APIRouter],
    settings: Settings | None = None,
    database: Database | None = None,
    idempotency_skip: tuple[str, ...] = (),
    middleware: Sequence[tuple[type, dict[str, Any]]] = (),
    consumer: Callable[[FastAPI], Any] | None = None,
    on_startup: Sequence[StartupHook] = (),
    on_shutdown: Sequence[StartupHook] = (),
) -> FastAPI:
    settings = settings or get_settings()
    clock.use_zone(settings.timezone)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for hook in on_startup:
                result = hook(app)
                if hasattr(result, "__await__"):
                    await result
            for sub in getattr(app.state, "embedded_apps", ()):
                await stack.enter_async_context(sub.router.lifespan_context(sub))
            await start_events(app, consumer)
            settle_garbage_collector()
            yield
            await stop_events(app)
            await app.state.peers.aclose()
            for hook in on_shutdown:
                result = hook(app)
                if hasattr(result, "__await__"):
                    await result
        await app.state.store.aclose()
        await app.state.database.dispose()

    app = FastAPI(
        title=title,
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.component = component
    app.state.metadata = metadata
    app.state.embedded_apps = []
    app.state.cipher = PiiCipher(settings.pii_key, settings.pii_index_key)
    # Where files rest: the data dir in the embedded mode, the S3 bucket every replica shares.
    app.state.store = object_store(settings)
    app.state.peers = Peers(settings, component, urls=settings.peer_urls)
    app.state.bus = None  # the gateway hands an in-process bus to the services it carries
    app.state.publisher = None
    app.state.owns_bus = False
    app.state.settings = settings
    app.state.database = database or Database(
        settings.database_url_for(component),
        schema=component,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
    )
    # Each component declares the table in its own models, so its migrations create it.
    app.state.idempotency_table = metadata.tables["idempotency_keys"]

    install_error_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "component": component}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Ready when this component's database answers, and those of the services it
        carries in process."""
        checks = {component: app.state.database}
        checks.update({sub.state.component: sub.state.database for sub in app.state.embedded_apps})
        failed = []
        for name, database in checks.items():
            try:
                await database.ping()
            except Exception:
                failed.append(name)
        if failed:
            return problem(503, "server.unavailable", extra={"failed": failed})
        body: dict[str, Any] = {"status": "ready", "checked": sorted(checks)}
        bus = app.state.bus
        if app.state.owns_bus:
            # Said, not failed on: the component serves while the broker is away, and its
            # outbox keeps the events until it is back.
            body["broker"] = "connected" if bus.connected else "unreachable"
        return JSONResponse(body)

    @app.get("/metrics", include_in_schema=False)
    async def metrics():
        return metrics_response()

    for router in routers:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    app.add_middleware(IdempotencyMiddleware, state=app.state, skip_prefixes=idempotency_skip)
    # Starlette puts the last added outermost: these wrap idempotency, the request context
    # wraps them all so that every answer, even a 413 or a 429, carries the request id.
    for cls, options in middleware:
        app.add_middleware(cls, **options)
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(RequestContextMiddleware, component=component)
    return app
