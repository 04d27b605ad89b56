"""Scope as SQL: "codes that start with one of the caller's prefixes", written as index-
friendly ranges rather than LIKE (a btree range works under any collation for digit codes)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, false, or_, true

from services.common.auth import Principal


def _upper_bound(prefix: str) -> str | None:
    """The smallest digit string greater than every string that starts with ``prefix``."""
    digits = list(prefix)
    for i in range(len(digits) - 1, -1, -1):
        if digits[i] != "9":
            digits[i] = str(int(digits[i]) + 1)
            return "".join(digits[: i + 1])
    return None


def prefix_clause(column, prefix: str) -> ColumnElement[bool]:
    if not prefix:
        return true()
    upper = _upper_bound(prefix) if prefix.isdigit() else None
    if upper is None:
        return column.startswith(prefix, autoescape=True)
    return and_(column >= prefix, column < upper)


def any_prefix_clause(column, prefixes: Iterable[str]) -> ColumnElement[bool]:
    clauses = [prefix_clause(column, p) for p in prefixes]
    if not clauses:
        return false()
    return clauses[0] if len(clauses) == 1 else or_(*clauses)


def scope_clause(column, principal: Principal) -> ColumnElement[bool]:
    """Rows whose code ``column`` lies inside the caller's scope."""
    if principal.unrestricted:
        return true()
    return any_prefix_clause(column, principal.scope)
