"""The one way a service calls another, and the one failure policy:

- a peer that cannot be reached, or answers 5xx, is ``503 upstream.unavailable`` naming it;
- a peer that does not answer in time is ``504 upstream.timeout`` naming it;
- a peer's 4xx is mapped to our own error by the call that knows what it meant (``errors``),
  and one nobody mapped, or an answer that does not read as the declared model, is
  ``502 upstream.bad_response`` — never a 500, and nothing degrades silently.

In the embedded mode a peer is its ASGI app in this process, in the split mode a URL; the
transport is ``services.common.peers.Peers``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from services.common.errors import AppError
from services.common.peers import Peers

log = logging.getLogger("gongjian.clients")

M = TypeVar("M", bound=BaseModel)
ErrorMap = Mapping[int, Callable[[], Exception]]

_ENDPOINTS: list[Endpoint] = []


@dataclass(frozen=True)
class Endpoint:
    """One operation of a peer as a client uses it: what the contract test checks."""

    service: str
    method: str
    path: str  # a template, as in the callee's OpenAPI document: /api/v1/registry/units/{id}
    query: tuple[str, ...] = ()
    response: type[BaseModel] | None = None
    permissions: tuple[str, ...] = ()  # of the service token, when no user token is passed
    body: type[BaseModel] | None = None
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _ENDPOINTS.append(self)


def all_endpoints() -> list[Endpoint]:
    # Importing the modules declares their endpoints.
    from services.common.clients import (  # noqa: F401
        assessment,
        gateway,
        grid,
        registry,
        volunteer,
    )

    return list(_ENDPOINTS)


def _segment(value: Any) -> str:
    encoded = quote(str(value), safe="", errors="surrogatepass")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


class PeerClient:
    """Base of the typed clients. ``token``: the end user's own bearer token, so the peer
    applies the user's scope; without it, a short-lived service token with the endpoint's
    permissions."""

    service: ClassVar[str]

    def __init__(self, peers: Peers, *, token: str | None = None) -> None:
        self.peers = peers
        self.token = token

    async def call(
        self,
        endpoint: Endpoint,
        model: type[M] | None = None,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        body: BaseModel | None = None,
        errors: ErrorMap | None = None,
    ) -> M | None:
        sent = {k: v for k, v in (params or {}).items() if v is not None}
        undeclared = set(sent) - set(endpoint.query)
        if undeclared:  # a programming error: the contract test would not see this parameter
            raise TypeError(f"{endpoint.path}: undeclared query parameters {sorted(undeclared)}")
        # Each path parameter is one segment, percent-encoded: a caller's id with control
        # characters, ``/``, ``..`` or ``?`` reaches the same endpoint (and is not found
        # there) instead of making an invalid URL or another endpoint's.
        url = endpoint.path.format(**{k: _segment(v) for k, v in (path or {}).items()})
        response = await self.peers.call(
            endpoint.service,
            endpoint.method,
            url,
            token=self.token,
            service_permissions=list(endpoint.permissions),
            params=sent or None,
            json=body.model_dump(mode="json") if body is not None else None,
        )
        status = response.status_code
        if status >= 500:
            log.warning("peer failed", extra={"peer": endpoint.service, "status": status})
            raise AppError("upstream.unavailable", 503, service=endpoint.service)
        if status >= 400:
            mapped = (errors or {}).get(status)
            if mapped is not None:
                raise mapped()
            log.warning(
                "unmapped peer answer",
                extra={"peer": endpoint.service, "status": status, "path": endpoint.path},
            )
            raise AppError("upstream.bad_response", 502, service=endpoint.service)
        target = model or endpoint.response
        if target is None:
            return None
        try:
            return target.model_validate_json(response.content)
        except ValidationError:
            log.warning("unreadable peer answer", extra={"peer": endpoint.service})
            raise AppError("upstream.bad_response", 502, service=endpoint.service) from None
