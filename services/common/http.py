"""Small HTTP helpers shared by every service."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from pydantic import BaseModel


def etag_of(payload: BaseModel) -> str:
    return 'W/"' + hashlib.sha256(payload.model_dump_json().encode()).hexdigest()[:32] + '"'


def with_etag(
    request: Request, response: Response, payload: BaseModel, *, tagged: BaseModel | None = None
):
    """Answer 304 when the caller already holds this version; tag the answer otherwise.
    ``tagged``: the part of the answer that defines its version, when not all of it does."""
    tag = etag_of(tagged if tagged is not None else payload)
    held = request.headers.get("if-none-match", "")
    if tag in {t.strip() for t in held.split(",")} or held.strip() == "*":
        return Response(status_code=304, headers={"ETag": tag})
    response.headers["ETag"] = tag
    return payload
