"""Where ``/api/v1/<service>/...`` goes. An upstream is an ASGI app: in the embedded mode the
service's own app, called in process (no network hop); in the split mode a proxy to it over
HTTP. The gateway only ever sees this one small interface."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send


class UpstreamDispatchMiddleware:
    def __init__(self, app: ASGIApp, *, upstreams: Mapping[str, ASGIApp]) -> None:
        self.app = app
        routes = [(f"/api/v1/{name}/", f"/api/v1/{name}", up) for name, up in upstreams.items()]
        if "grid" in upstreams:  # Open311 GeoReport v2 keeps its conventional path
            routes.append(("/open311/", "/open311", upstreams["grid"]))
        self.prefixes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            for prefix, bare, upstream in self.prefixes:
                if path.startswith(prefix) or path == bare:
                    # The service gets a scope of its own: its app, its request state.
                    return await upstream({**scope, "state": {}}, receive, send)
        await self.app(scope, receive, send)


def service_prefixes(names) -> tuple[str, ...]:
    return (*(f"/api/v1/{name}/" for name in names), "/open311/")
