"""Input no form would send, refused at the door of every component with a 4xx that names
the field: a NUL character (PostgreSQL cannot store one in text, and would answer a 500
from deep inside a query) in the path, a query parameter or a JSON body."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import FieldError, problem

NUL = "\x00"


def nul_field(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) in a JSON value holding a NUL."""
    if isinstance(value, str):
        return path or "body" if NUL in value else None
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return where
            found = nul_field(child, where)
            if found:
                return found
    if isinstance(value, list):
        for i, child in enumerate(value):
            found = nul_field(child, f"{path}[{i}]")
            if found:
                return found
    return None


def _refuse(field: str):
    error = FieldError(field, "nul_character")
    return problem(422, "validation.nul_character", errors=[error.as_dict()])


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if NUL in scope.get("path", ""):
            return await _refuse("path")(scope, receive, send)
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if NUL in name or NUL in value:
                    return await _refuse(name.replace(NUL, "") or "query")(scope, receive, send)
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
        if not content_type.startswith(b"application/json"):
            return await self.app(scope, receive, send)
        # JSON bodies are read whole by the route anyway; read them here first, and look
        # closer only when the bytes could hold a NUL at all.
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        lowered = bytes(body).lower()
        if b"\\u0000" in lowered or b"\x00" in lowered:
            try:
                field = nul_field(json.loads(bytes(body)))
            except (ValueError, UnicodeDecodeError):
                field = None  # not JSON: the route's own validation says so
            if field:
                return await _refuse(field)(scope, receive, send)

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
