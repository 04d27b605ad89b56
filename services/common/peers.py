"""How one component calls another: the one small client for service-to-service calls.

In the embedded mode a peer is its ASGI app, called in process; in the split mode it is a
base URL, called over HTTP with one pooled client. Either way a call carries the caller's
request id and a token: the end user's own (so that the peer applies the user's scope) or a
short-lived service token (for work no user could do alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

import httpx
from starlette.types import ASGIApp

from services.common.auth import issue_access_token
from services.common.errors import AppError
from services.common.observability import request_id_var
from services.common.settings import Settings

SERVICE_TOKEN_TTL_S = 120


class Peers:
    def __init__(
        self,
        settings: Settings,
        component: str,
        *,
        apps: Mapping[str, ASGIApp] | None = None,
        urls: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.component = component
        self.apps = dict(apps or {})
        self.urls = dict(urls or {})
        self.timeout_s = timeout_s if timeout_s is not None else settings.peer_timeout_s
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._late: set[asyncio.Future] = set()  # in-process calls that outlived the wait

    def client(self, peer: str) -> httpx.AsyncClient:
        if peer not in self._clients:
            if peer in self.apps:
                # A bug in a peer is its own 500 (which it logs), as over the network; raised
                # here it would be the caller's 500.
                transport = httpx.ASGITransport(app=self.apps[peer], raise_app_exceptions=False)
                self._clients[peer] = httpx.AsyncClient(
                    transport=transport, base_url=f"http://{peer}", timeout=self.timeout_s
                )
            elif peer in self.urls:
                self._clients[peer] = httpx.AsyncClient(
                    base_url=self.urls[peer], timeout=self.timeout_s
                )
            else:
                raise AppError("upstream.unavailable", 503, service=peer)
        return self._clients[peer]

    def service_token(self, permissions: list[str]) -> str:
        token, _ = issue_access_token(
            self.settings,
            user_id=f"service:{self.component}",
            roles=[],
            scope=["*"],
            permissions=permissions,
            ttl_s=SERVICE_TOKEN_TTL_S,
            kind="service",
        )
        return token

    async def call(
        self,
        peer: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        service_permissions: list[str] | None = None,
        json: Any = None,
        params: Any = None,
    ) -> httpx.Response:
        """``token``: the end user's bearer token; or ``service_permissions``: act as this
        service with just those permissions."""
        if token is None:
            token = self.service_token(service_permissions or [])
        headers = {"Authorization": f"Bearer {token}"}
        rid = request_id_var.get()
        if rid:
            headers["X-Request-ID"] = rid
        request = self.client(peer).request(method, path, headers=headers, json=json, params=params)
        try:
            if peer in self.apps:
                return await self._in_process(request)
            return await request
        except httpx.TimeoutException:
            raise AppError("upstream.timeout", 504, service=peer) from None
        except httpx.HTTPError:
            raise AppError("upstream.unavailable", 503, service=peer) from None

    async def _in_process(self, request: Awaitable[httpx.Response]) -> httpx.Response:
        """httpx bounds no wait on an ASGI app, so the wait is bounded here. A peer that is
        late is left to finish on its own, as a process over the network would be: its
        write is committed or rolled back whole, never cut off halfway by our impatience."""
        task = asyncio.ensure_future(request)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.timeout_s)
        except TimeoutError:
            raise httpx.TimeoutException("the peer did not answer in time") from None
        finally:
            if not task.done():  # late, or our own caller went away
                self._late.add(task)
                task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Future) -> None:
        self._late.discard(task)
        if not task.cancelled():
            task.exception()  # already answered 504; the peer logged its own failure

    async def aclose(self) -> None:
        for task in list(self._late):
            task.cancel()
        await asyncio.gather(*self._late, return_exceptions=True)
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


async def at_once(*calls: Awaitable[Any]) -> list[Any]:
    """The calls made together (a peer's figures and our own query, say), their answers in
    order. A failure is raised as it is (a peer's 503 stays a 503) once every call has
    ended: none is cut off halfway, a query on the request's session least of all."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


def forward_token(request) -> str | None:
    """The caller's own bearer token, to call a peer on the caller's behalf."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
