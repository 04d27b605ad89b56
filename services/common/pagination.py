"""Keyset (cursor) pagination: stable order, no offsets, and a page never loads a table.

A cursor is the sort key of the last row served, base64url-encoded JSON. The query asks for
``limit + 1`` rows to learn whether another page exists.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import BadRequest

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([v if isinstance(v, str | int | float | None) else str(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadRequest("pagination.cursor_invalid") from None
    if not isinstance(values, list) or len(values) != width:
        raise BadRequest("pagination.cursor_invalid")
    return values


async def paginate(
    session: AsyncSession,
    stmt: Select,
    order_by: Sequence[Any],
    params: PageParams,
    *,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """Run a one-entity ``stmt`` ordered by the ``order_by`` columns (strings or integers;
    the last must be unique, usually the id) from after the cursor; return the page's
    objects and the next cursor. ``descending`` serves newest first."""
    if params.cursor:
        after = decode_cursor(params.cursor, len(order_by))
        key, bound = tuple_(*order_by), tuple_(*after)
        stmt = stmt.where(key < bound if descending else key > bound)
    ordering = [c.desc() for c in order_by] if descending else list(order_by)
    stmt = stmt.order_by(*ordering).limit(params.limit + 1)
    items = list((await session.scalars(stmt)).all())
    if len(items) <= params.limit:
        return items, None
    items = items[: params.limit]
    return items, encode_cursor([getattr(items[-1], c.key) for c in order_by])
