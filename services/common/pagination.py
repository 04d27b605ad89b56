"""Keyset (cursor) pagination: stable order, no offsets, and a page never loads a table.

A cursor is the sort key of the last row served, base64url-encoded JSON. The query asks for
``limit + 1`` rows to learn whether another page exists.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import BadRequest, FieldError

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
    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value if isinstance(value, str | int | float | None) else str(value)

    raw = json.dumps([plain(v) for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, columns: Sequence[Any]) -> list[Any]:
    """The sort key a cursor carries, each value checked against its column's type: a cursor
    is client input, and a forged one must be a 400, not a database error."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("wrong width")
        return [_typed(value, column) for value, column in zip(values, columns, strict=True)]
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError):
        raise cursor_invalid() from None


def cursor_invalid() -> BadRequest:
    return BadRequest("pagination.cursor_invalid", errors=[FieldError("cursor", "cursor_invalid")])


def _typed(value: Any, column: Any) -> Any:
    kind = getattr(column, "type", None)
    kind = getattr(kind, "impl_instance", kind)  # a TypeDecorator (the time column) stores its impl
    try:
        expected = kind.python_type
    except (AttributeError, NotImplementedError):
        expected = None
    if value is None:  # no list pages on an empty key: a null is a forged cursor
        raise TypeError("a value")
    if expected is datetime:
        if not isinstance(value, str):
            raise TypeError("a time")
        return datetime.fromisoformat(value)
    if expected is date:
        if not isinstance(value, str):
            raise TypeError("a date")
        return date.fromisoformat(value)
    if expected is bool:
        if not isinstance(value, bool):
            raise TypeError("a boolean")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**63 - 1:
            raise TypeError("an integer")
        return value
    if expected is float or expected is Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("a number")
        return value
    if not isinstance(value, str) or "\x00" in value or len(value) > 256:
        raise TypeError("a string")
    return value


async def paginate(
    session: AsyncSession,
    stmt: Select,
    order_by: Sequence[Any],
    params: PageParams,
    *,
    descending: bool = False,
    rows: bool = False,
) -> tuple[list[Any], str | None]:
    """Run a one-entity ``stmt`` ordered by the ``order_by`` columns (strings or integers;
    the last must be unique, usually the id) from after the cursor; return the page's
    objects and the next cursor. ``descending`` serves newest first. With ``rows``, the
    statement selects the entity first and columns joined to it, and the page is its rows."""
    if params.cursor:
        after = decode_cursor(params.cursor, order_by)
        key, bound = tuple_(*order_by), tuple_(*after)
        stmt = stmt.where(key < bound if descending else key > bound)
    ordering = [c.desc() for c in order_by] if descending else list(order_by)
    stmt = stmt.order_by(*ordering).limit(params.limit + 1)
    result = await (session.execute(stmt) if rows else session.scalars(stmt))
    items = list(result.all())
    if len(items) <= params.limit:
        return items, None
    items = items[: params.limit]
    last = items[-1][0] if rows else items[-1]
    return items, encode_cursor([getattr(last, c.key) for c in order_by])
