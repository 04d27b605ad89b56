"""Engines and per-request sessions for SQLite (embedded) and PostgreSQL (asyncpg).

Each component owns its own database: a SQLite file of its own, or on PostgreSQL a schema of
its own (the connection's ``search_path``), so no service can join another's tables.

One request is one session. ``TransactionalRoute`` commits it after the endpoint returns and
before the response leaves (a client never sees 201 for a write that later failed); services
``flush()``, never ``commit()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator

from services.common.clock import to_utc

# An explicit constraint naming convention, so migrations name things the same everywhere.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """The platform's one time column: stores the instant in UTC and always hands back an
    aware datetime in UTC, on SQLite (which keeps no offset: an aware value would be written
    as its wall-clock digits and read back 8 hours off) and on PostgreSQL alike. A naive
    value means the deployment's zone, the same rule as on the wire."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # a literal someone typed in a query: parse it the same way
            value = datetime.fromisoformat(value)
        value = to_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def json_text(value: Any) -> str:
    """A JSON column's value as the database keeps it: UTF-8 text, Chinese as itself rather
    than ``\\u`` escapes. orjson (Rust) rather than the standard library: a roster writes a
    history entry for each of its rows, and json.dumps took 10 µs an entry to orjson's 1.7."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class Database:
    def __init__(self, url: str, *, schema: str, echo: bool = False, pool_size: int = 10) -> None:
        self.url = url
        self.schema = schema
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {
            "echo": echo,
            "pool_pre_ping": not self.is_sqlite,
            "json_serializer": json_text,
            "json_deserializer": orjson.loads,
        }
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
            # Writers take the write lock when they begin, so two writers queue on the busy
            # timeout instead of failing to upgrade a read lock half-way through.
            self.write_engine = self.engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        else:
            self.write_engine = self.engine
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)

    def session(self, *, write: bool = True) -> AsyncSession:
        return (self._write if write else self._read)()

    @asynccontextmanager
    async def transaction(
        self, *, write: bool = True, connection: AsyncConnection | None = None
    ) -> AsyncIterator[AsyncSession]:
        """A unit of work outside a request (jobs, demo data, start-up): commit or roll back.
        On ``connection`` when the caller holds one (an import's batches, one after another
        on one connection), on one from the pool otherwise."""
        if connection is not None:
            session = AsyncSession(bind=connection, expire_on_commit=False)
        else:
            session = self.session(write=write)
        async with session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


class _SQLiteCompiler(SQLiteCompiler):
    """SQLite's own dialect drops table hints; this one writes them after the table name,
    which is where SQLite takes ``INDEXED BY``: ``with_hint(T, "INDEXED BY ix", "sqlite")``
    for a query whose plan must not depend on the statistics (there are none until someone
    runs ANALYZE, and with them the planner still chose badly)."""

    def get_from_hint_text(self, table, text):
        return text


def _configure_sqlite(engine: AsyncEngine) -> None:
    engine.sync_engine.dialect.statement_compiler = _SQLiteCompiler

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - driver callback
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see "begin").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn):  # pragma: no cover - driver callback
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


def request_database(request: Request) -> Database:
    return request.app.state.database


async def get_session(request: Request) -> AsyncSession:
    """The request's session, opened on first use and finished by ``TransactionalRoute``."""
    session = getattr(request.state, "db_session", None)
    if session is None:
        session = request_database(request).session(write=request.method not in SAFE_METHODS)
        request.state.db_session = session
    return session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class TransactionalRoute(APIRoute):
    """Commits the request's session when the endpoint succeeded (status < 400), before the
    response is sent; rolls it back otherwise, unless the error says its refusal is to be
    kept (``AppError(..., keep_writes=True)``)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def run(request: Request):
            try:
                response = await handler(request)
            except BaseException as exc:
                await _finish(request, commit=getattr(exc, "keep_writes", False) is True)
                raise
            await _finish(request, commit=response.status_code < 400)
            return response

        return run


async def _finish(request: Request, *, commit: bool) -> None:
    from services.common.events import EMITTED, publish_after_commit  # events use our column

    session: AsyncSession | None = getattr(request.state, "db_session", None)
    if session is None:
        return
    request.state.db_session = None
    try:
        if commit:
            await session.commit()
        else:
            await session.rollback()
            session.info.pop(EMITTED, None)
    finally:
        await session.close()
    if commit:
        await publish_after_commit(request.app.state, session)


async def bulk_insert(session: AsyncSession, table, rows: list[dict[str, Any]]) -> None:
    """Many rows into ``table`` within the session's transaction, each a dict of the same
    columns: ``bulk_insert_rows`` with their values."""
    if rows:
        columns = list(rows[0])
        values_of = _values_of(columns)
        await bulk_insert_rows(session, table, columns, [values_of(row) for row in rows])


async def bulk_insert_rows(
    session: AsyncSession, table, columns: Sequence[str], rows: list[tuple]
) -> None:
    """Many rows into ``table`` within the session's transaction, each a tuple of values in
    ``columns``' order (a roster's hot path builds those, not dicts): PostgreSQL's COPY
    (asyncpg ``copy_records_to_table``), batched multi-row INSERTs on SQLite."""
    if rows:
        connection = await session.connection()
        await insert_bound(session, bind_insert(connection.dialect, table, columns, rows))


@dataclass(frozen=True)
class BoundInsert:
    """Rows of a table bound as the driver takes them, ready to go in: worked out ahead of
    the transaction that inserts them (an import binds a batch while the last is written,
    so that the writing holds the event loop no longer than the driver's calls take)."""

    table: Any
    columns: tuple[str, ...]
    rows: int
    sqlite: list[tuple[str, Any]]  # multi-row INSERTs and their parameters
    postgresql: list[list[Any]]  # COPY's records


def bind_insert(dialect, table, columns: Sequence[str], rows: list[tuple]) -> BoundInsert:
    """``rows`` bound for ``dialect`` (the engine's: ``database.engine.dialect``)."""
    bound = _binder(dialect, table, columns)
    if dialect.name == "postgresql":
        records = rows if bound is None else [bound(row) for row in rows]
        return BoundInsert(table, tuple(columns), len(rows), [], records)
    statements = list(_sqlite_inserts(dialect, table, columns, rows, bound))
    return BoundInsert(table, tuple(columns), len(rows), statements, [])


async def insert_bound(session: AsyncSession, insert: BoundInsert) -> None:
    if not insert.rows:
        return
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        from asyncpg.exceptions import IntegrityConstraintViolationError

        raw = (await connection.get_raw_connection()).driver_connection
        try:
            await raw.copy_records_to_table(
                insert.table.name, records=insert.postgresql, columns=list(insert.columns)
            )
        except IntegrityConstraintViolationError as exc:
            # The driver's own error, past SQLAlchemy: raised as the one a caller catches on
            # both databases (a person registered meanwhile refuses a roster's row, not its
            # batch).
            raise IntegrityError(f"COPY {insert.table.name}", None, exc) from exc
        return
    for statement, params in insert.sqlite:
        await connection.exec_driver_sql(statement, params)


def _binder(dialect, table, columns: Sequence[str]):
    """A row's values, each bound as its column's type binds it (JSON serialised, times made
    UTC): what the driver is handed; None when no column needs it."""
    binders = []
    for i, name in enumerate(columns):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binders.append((i, _memoized(process)))
    if not binders:
        return None

    def bound(row: tuple) -> list[Any]:
        values = list(row)
        for i, bind in binders:
            values[i] = bind(values[i])
        return values

    return bound


# Rows per multi-row INSERT on SQLite. One size only: the driver keeps each statement it
# has prepared, and a prepared statement of 500 rows took 0.8 MB; the rows past the last
# full statement go in one executemany of a single row's statement.
_SQLITE_ROWS_PER_INSERT = 100


def _sqlite_inserts(dialect, table, columns: Sequence[str], rows: list[tuple], bound):
    """The rows as multi-row ``INSERT ... VALUES (...), (...)`` statements. The driver lets
    go of the GIL once for each statement; ``executemany`` lets go and takes it back for
    every row, and waits for it each time another thread holds it: 100,000 residents took
    26 s of wall time that way beside a busy thread, 18 s this way (SQLite alone: about the
    same). Each distinct value is bound once: a batch shares its timestamps and many of its
    dates."""
    quote = dialect.identifier_preparer.quote
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES "
    one = "(" + ", ".join("?" * len(columns)) + ")"
    per = _SQLITE_ROWS_PER_INSERT
    full = len(rows) - len(rows) % per
    many = head + ", ".join([one] * per)
    for start in range(0, full, per):
        params: list[Any] = []
        for row in rows[start : start + per]:
            params.extend(row if bound is None else bound(row))
        yield many, tuple(params)
    if full < len(rows):
        rest = rows[full:]
        yield head + one, [tuple(row) for row in (rest if bound is None else map(bound, rest))]


def _values_of(columns: list[str]):
    """A row's values in ``columns``' order, as a tuple (``itemgetter`` of one key answers
    the value alone)."""
    get = itemgetter(*columns)
    return get if len(columns) > 1 else lambda row: (get(row),)


_UNHASHABLE = frozenset({list, dict})


def _memoized(process):
    seen: dict[Any, Any] = {}

    def bind(value):
        if value.__class__ in _UNHASHABLE:  # a JSON value: each is its own
            return process(value)
        try:
            return seen[value]
        except KeyError:
            seen[value] = bound = process(value)
            return bound
        except TypeError:  # unhashable (a JSON value)
            return process(value)

    return bind


def one_of(session: AsyncSession, column, values: list[Any]):
    """``column IN values`` for long lists: on PostgreSQL one array parameter
    (``= ANY($1)``), which compiles once, instead of a thousand bound parameters rendered
    anew for every batch."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy import String, any_, literal
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(literal(list(values), ARRAY(String)))
    return column.in_(values)
