"""What changed, by whom: the change history every service keeps of its main records.

Each service adds ``history_table`` to its own metadata (and ``create_history_table`` to a
migration of its tree) and calls ``record_change`` in the transaction of each write, so an
entry exists if and only if the change does. An entry names the actor by account id and by
the display name the access token carried when the change was made (no call to the gateway,
and a later rename does not rewrite the past), the action, and each field that changed with
its old and new value. Personal data never enters it but masked: a field listed in
``masked_fields`` is compared on its full value and stored as its mask, so neither the plain
text nor a ciphertext of an ID number or phone rests in a history row.

Entries are read through the record they belong to, so the record's own scope rules decide
who reads them (a record outside the caller's scope answers 404, its history too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as default
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    Column,
    Index,
    MetaData,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import clock, to_local
from services.common.database import UTCDateTime, bulk_insert_rows
from services.common.ids import new_id
from services.common.pagination import Page, PageParams, decode_cursor, encode_cursor
from services.common.schemas import Timestamp

Masker = Callable[[Any], Any]

# The actions an entry may name; a service may add its own (``signed``, ``approved``...).
CREATED, UPDATED, DELETED, MOVED_OUT = "created", "updated", "deleted", "moved_out"


def history_table(metadata: MetaData) -> Table:
    return Table(
        "change_history",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("record_type", String(32), nullable=False),
        Column("record_id", String(64), nullable=False),
        # The code the record belonged to when it changed (a community, a street, a cell).
        Column("area_code", String(32), nullable=False),
        Column("action", String(32), nullable=False),
        Column("actor_id", String(64), nullable=False),
        Column("actor_name", String(64), nullable=True),
        Column("changes", JSON, nullable=False),
        Column("at", UTCDateTime(), nullable=False),
        Index("ix_change_history_record", "record_type", "record_id", "id"),
    )


# An entry's columns in the order ``record_many`` writes them.
ENTRY_COLUMNS = (
    "id",
    "record_type",
    "record_id",
    "area_code",
    "action",
    "actor_id",
    "actor_name",
    "changes",
    "at",
)


def named(name: str | None, record_id: str | None) -> str | None:
    """Someone or something a record points at, as a history shows it: the name, the id
    beside it (``刘社区 (0191…)``); the id alone when no name was known."""
    return f"{name or ''} ({record_id})".strip() if record_id else None


_AS_IS = frozenset({str, int, float, bool})


def _plain(value: Any) -> Any:
    """A value as JSON keeps it: times in the deployment's zone, dates and decimals as
    strings, sets and tuples as sorted lists."""
    if value is None or type(value) in _AS_IS:
        return value  # most values: checked once, not down the list (a roster has 100,000)
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, datetime):
        return to_local(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def diff(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    masked_fields: Mapping[str, Masker] | None = None,
) -> list[dict[str, Any]]:
    """Each field whose value differs, ``{"field", "old", "new"}``, in field order. A masked
    field is compared on its full value and given as its mask."""
    masked_fields = masked_fields or {}
    if not before and after:
        return _created(after, masked_fields)
    before, after = before or {}, after or {}
    changes = []
    for name in dict.fromkeys([*before, *after]):
        old, new = _plain(before.get(name)), _plain(after.get(name))
        if old == new:
            continue
        if name in masked_fields:
            mask = masked_fields[name]
            old = mask(old) if old is not None else None
            new = mask(new) if new is not None else None
        changes.append({"field": name, "old": old, "new": new})
    return changes


def _created(after: Mapping[str, Any], masked_fields: Mapping[str, Masker]) -> list[dict]:
    """``diff`` from nothing: every field that has a value (a roster writes a history
    entry for each of its rows, so this is the one that runs a hundred thousand times)."""
    changes = []
    for name, value in after.items():
        new = _plain(value)
        if new is None:
            continue
        if name in masked_fields:
            new = masked_fields[name](new)
        changes.append({"field": name, "old": None, "new": new})
    return changes


async def record_change(
    session: AsyncSession,
    table: Table,
    *,
    record_type: str,
    record_id: str,
    area_code: str,
    principal: Principal,
    action: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    masked_fields: Mapping[str, Masker] | None = None,
) -> str | None:
    """Write one entry in the caller's transaction; answers its id. ``before`` is None for a
    record just created, ``after`` None for one deleted (which lists no fields: its last
    state is in the entries before). A write that changed nothing writes nothing."""
    changes = [] if after is None else diff(before, after, masked_fields)
    if after is not None and not changes:
        return None
    entry_id = new_id()
    await session.execute(
        insert(table).values(
            id=entry_id,
            record_type=record_type,
            record_id=record_id,
            area_code=area_code or "",
            action=action,
            actor_id=principal.user_id,
            actor_name=principal.name or None,
            changes=changes,
            at=clock.now(),
        )
    )
    return entry_id


async def record_many(
    session: AsyncSession,
    table: Table,
    *,
    record_type: str,
    actor_id: str,
    actor_name: str | None,
    action: str,
    entries: list[tuple[str, str, Mapping[str, Any] | None, Mapping[str, Any]]],
    masked_fields: Mapping[str, Masker] | None = None,
) -> int:
    """One entry per record for one change made to many at once (buildings placed in new
    cells, a roster's rows), by one actor (an account, or who asked for the work a job
    does): ``entries`` are (record id, area code, before, after), written in one bulk
    insert (COPY on PostgreSQL); answers how many were written."""
    rows = entry_rows(
        record_type=record_type,
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        entries=entries,
        masked_fields=masked_fields,
    )
    await bulk_insert_rows(session, table, ENTRY_COLUMNS, rows)
    return len(rows)


def entry_rows(
    *,
    record_type: str,
    actor_id: str,
    actor_name: str | None,
    action: str,
    entries: list[tuple[str, str, Mapping[str, Any] | None, Mapping[str, Any]]],
    masked_fields: Mapping[str, Masker] | None = None,
) -> list[tuple]:
    """``record_many``'s rows (``ENTRY_COLUMNS``), worked out without writing them: an
    import works out a batch's entries before the transaction that writes them. An entry
    that changed nothing has no row."""
    now = clock.now()
    rows = []
    for record_id, area_code, before, after in entries:
        changes = diff(before, after, masked_fields)
        if changes:
            entry = (record_id, area_code or "", action, actor_id, actor_name, changes, now)
            rows.append((new_id(), record_type, *entry))
    return rows


async def history_page(
    session: AsyncSession,
    table: Table,
    *,
    record_type: str,
    record_id: str,
    page: PageParams,
) -> tuple[list[Any], str | None]:
    """One record's entries, newest first (ids are time-sortable), a page at a time."""
    stmt = select(table).where(table.c.record_type == record_type, table.c.record_id == record_id)
    if page.cursor:
        (after,) = decode_cursor(page.cursor, [table.c.id])
        stmt = stmt.where(table.c.id < after)
    rows = list(await session.execute(stmt.order_by(table.c.id.desc()).limit(page.limit + 1)))
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor([rows[-1].id])


async def deleted_in(
    session: AsyncSession, table: Table, *, record_type: str, record_id: str
) -> str | None:
    """Where a record was when it was deleted (None when its last entry is not a deletion):
    the history of a deleted record, which its own scope check no longer finds, is read by
    those who reach that code."""
    row = (
        await session.execute(
            select(table.c.action, table.c.area_code)
            .where(table.c.record_type == record_type, table.c.record_id == record_id)
            .order_by(table.c.id.desc())
            .limit(1)
        )
    ).first()
    return row.area_code if row is not None and row.action == DELETED else None


# --- the wire ---------------------------------------------------------------------------------

# What every service's entries may say; a service names its own actions beside these.
COMMON_ACTIONS = {
    CREATED: "新建",
    UPDATED: "修改",
    DELETED: "删除",
    MOVED_OUT: "迁出",
    "imported": "导入",
    "cell_assigned": "调整所属网格",
    "members_set": "设置成员",
}


@dataclass(frozen=True)
class HistoryLabels:
    """How a service's entries read to a community worker: the Chinese name of each action,
    of each field (``"record_type.field"`` before ``"field"``), and of each enumerated
    value (keyed alike). Entries keep their codes; the names sit beside them, and a code
    without a name is answered as itself."""

    actions: Mapping[str, str] = default(default_factory=dict)
    fields: Mapping[str, str] = default(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = default(default_factory=dict)

    def action(self, action: str) -> str:
        return self.actions.get(action) or COMMON_ACTIONS.get(action) or action

    def field_name(self, record_type: str, name: str) -> str:
        return self.fields.get(f"{record_type}.{name}") or self.fields.get(name) or name

    def value_name(self, record_type: str, name: str, value: Any) -> Any:
        """The name of an enumerated value (each item's, for a list); None where the field
        is not enumerated, so the answer says only what it knows."""
        names = self.values.get(f"{record_type}.{name}") or self.values.get(name)
        if names is None or value is None:
            return None
        if isinstance(value, list):
            return [names.get(str(v), v) for v in value]
        if isinstance(value, bool):
            return names.get(str(value).lower(), value)
        return names.get(str(value), value)


YES_NO = {"true": "是", "false": "否"}


class FieldChangeOut(BaseModel):
    field: str
    # The field as a worker reads it (身份证号, 状态); a code the service does not name is
    # given as itself.
    field_name: str
    old: Any = None
    new: Any = None
    # The Chinese names of enumerated values (a status, a residence type, tags); absent
    # (null) where the values are not codes.
    old_name: Any = None
    new_name: Any = None


class HistoryEntryOut(BaseModel):
    id: str
    record_type: str
    record_id: str
    action: str
    action_name: str
    actor_id: str
    actor_name: str | None
    at: Timestamp
    changes: list[FieldChangeOut]


def entry_out(row: Any, labels: HistoryLabels | None = None) -> HistoryEntryOut:
    labels = labels or HistoryLabels()
    kind = row.record_type
    return HistoryEntryOut(
        id=row.id,
        record_type=kind,
        record_id=row.record_id,
        action=row.action,
        action_name=labels.action(row.action),
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        at=row.at,
        changes=[
            FieldChangeOut(
                field=c["field"],
                field_name=labels.field_name(kind, c["field"]),
                old=c.get("old"),
                new=c.get("new"),
                old_name=labels.value_name(kind, c["field"], c.get("old")),
                new_name=labels.value_name(kind, c["field"], c.get("new")),
            )
            for c in row.changes or []
        ],
    )


def history_pages(read, labels: HistoryLabels | None = None):
    """The answer of every ``.../{id}/history`` route, over a service's own ``read`` (which
    loads the record through its scoped lookup first: outside scope, a 404) and the names
    its entries read by."""

    async def page_of(session, principal, page, record_type: str, record_id: str):
        rows, cursor = await read(
            session=session,
            principal=principal,
            record_type=record_type,
            record_id=record_id,
            page=page,
        )
        return Page(items=[entry_out(r, labels) for r in rows], next_cursor=cursor)

    return page_of
