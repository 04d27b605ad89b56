"""An import job from its stored file to the end: the file read and parsed in a thread one
batch ahead of the writer, each batch written in its own transaction, the outcome recorded
on the job."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from datetime import date, timedelta
from itertools import islice
from typing import BinaryIO

import anyio
from fastapi import FastAPI
from sqlalchemy import text
from starlette.datastructures import State

from services.common.clock import clock
from services.common.database import Database
from services.common.errors import AppError
from services.common.i18n import message
from services.common.ids import new_id
from services.common.pii import PiiCipher
from services.common.storage import ObjectMissing, ObjectStore
from services.registry import repository, rules
from services.registry.imports.reading import check_header, open_rows, open_sealed, roster_suffix
from services.registry.imports.rows import Context, Parsed, parse_chunk
from services.registry.imports.writing import LeaseLost, Tally, Writer
from services.registry.models import ImportJob

log = logging.getLogger("gongjian.registry.imports")

# Rows per batch (one transaction each). Each transaction has a fixed cost of its own
# (~50 ms measured on PostgreSQL, whatever the batch's size): 1,000 gave ~4,500 rows/s,
# 2,500 ~6,000 rows/s with +40 MB, 5,000 ~6,600 rows/s with +55 MB (bench/registry.py).
# On SQLite a commit writes every page the batch touched to the WAL, and the blind indexes
# are random: 2,500 rows touch most of their pages, so twice the rows cost little more to
# commit. Not more: a batch in hand is ~5 KB a row, twice over (one written, one parsed),
# and 10,000 rows took the peak from 250 to 360 MB for a CPU time within the noise of a
# shared machine.
BATCH_ROWS = 2500
SQLITE_BATCH_ROWS = 5_000


async def _context(
    database: Database, job: ImportJob, cipher: PiiCipher, today: date, max_cell_chars: int
) -> Context:
    async with database.transaction(write=False) as session:
        communities = await repository.community_codes(session)
        tags = rules.tag_lookup((t.code, t.name) for t in await repository.list_tags(session))
    scope = list(job.scope or [])
    return Context(
        scope=[s for s in scope if s != "*"],
        unrestricted="*" in scope,
        communities=communities,
        tags_by_name=tags,
        cipher=cipher,
        today=today,
        max_cell_chars=max_cell_chars,
    )


def _parsed_batches(
    plain: BinaryIO,
    suffix: str,
    kind: str,
    ctx: Context,
    encoding: str | None,
    batch_rows: int = BATCH_ROWS,
    in_memory: bool = False,
) -> Iterator[list[Parsed]]:
    """The parsed rows of each batch of the file, header checked first."""
    rows = open_rows(plain, suffix, encoding, in_memory=in_memory)
    first = next(rows, None)
    if first is None:
        raise AppError("import.empty", 422)
    header = [str(h).strip() for h in first]
    check_header(kind, header)
    index = {h: i for i, h in enumerate(header) if h}
    row_number = 1
    while chunk := list(islice(rows, batch_rows)):
        yield parse_chunk(kind, chunk, row_number, index, ctx)
        row_number += len(chunk)


async def _in_thread(
    plain: BinaryIO,
    suffix: str,
    kind: str,
    ctx: Context,
    encoding: str | None,
    batch_rows: int,
    in_memory: bool,
):
    """Read and parse in a worker thread, one batch ahead of the writer (the store's reads
    block: they happen in that thread too)."""
    batches = _parsed_batches(plain, suffix, kind, ctx, encoding, batch_rows, in_memory)
    done = object()

    def step():
        return next(batches, done)

    upcoming = asyncio.ensure_future(anyio.to_thread.run_sync(step))
    try:
        while (item := await upcoming) is not done:
            upcoming = asyncio.ensure_future(anyio.to_thread.run_sync(step))
            yield item
    finally:
        upcoming.cancel()


def _lease_until(lease_s: float):
    return clock.now() + timedelta(seconds=lease_s)


async def run_import(
    database: Database,
    cipher: PiiCipher,
    store: ObjectStore,
    job_id: str,
    *,
    replica: str,
    lease_s: float,
    max_cell_chars: int,
    in_memory_cells: int = 0,
) -> None:
    """Claim a queued job for ``replica`` and process it from its stored file (a sealed
    object in the store) to the end."""
    async with database.transaction() as session:
        job = await repository.claim_import_job(
            session, job_id, replica=replica, now=clock.now(), lease_until=_lease_until(lease_s)
        )
    if job is not None:
        await run_claimed(
            database,
            cipher,
            store,
            job,
            replica=replica,
            lease_s=lease_s,
            max_cell_chars=max_cell_chars,
            in_memory_cells=in_memory_cells,
        )


async def run_claimed(
    database: Database,
    cipher: PiiCipher,
    store: ObjectStore,
    job: ImportJob,
    *,
    replica: str,
    lease_s: float,
    max_cell_chars: int,
    in_memory_cells: int = 0,
) -> None:
    """Process a job ``replica`` holds, renewing its lease with every batch. An xlsx of up
    to ``in_memory_cells`` cells is read whole (python-calamine), a larger one streamed."""
    job_id = job.id
    tally = Tally()
    raw = None
    try:
        ctx = await _context(database, job, cipher, clock.today(), max_cell_chars)
        try:
            raw = await store.open(job.file_path)
            # Its header is read here: in a worker thread, as every read of the store.
            plain = await anyio.to_thread.run_sync(open_sealed, raw, job.file_path, cipher)
        except (ObjectMissing, ValueError):
            raise AppError("import.file_unreadable", 422) from None
        writer = Writer(database, cipher, job)

        async def renew(session) -> bool:
            return await repository.renew_import_lease(
                session, job_id, replica=replica, lease_until=_lease_until(lease_s)
            )

        # A pipeline of two: the next batch is parsed while this one is written. (A parser
        # process instead of the thread was measured slower: pickling the parsed rows back
        # cost more than the GIL it freed.)
        suffix = roster_suffix(job.file_path)
        batch_rows = SQLITE_BATCH_ROWS if database.is_sqlite else BATCH_ROWS
        in_memory = job.sheet_cells is not None and job.sheet_cells <= in_memory_cells
        async for batch in _in_thread(
            plain, suffix, job.kind, ctx, job.encoding, batch_rows, in_memory
        ):
            # The lease is renewed in the batch's own transaction: a batch is written only
            # by the replica that still holds the job, and costs no commit of its own.
            await writer.write(job.kind, batch, tally, renew)
        status, note = "done", None
    except LeaseLost:
        log.warning("import lease lost; another replica runs it", extra={"job": job_id})
        return
    except AppError as exc:
        status, note = "failed", message(exc.code, "zh", **exc.params)
    except Exception:
        log.exception("import failed", extra={"job": job_id})
        status, note = "failed", message("server.error", "zh")
    finally:
        if raw is not None:
            await anyio.to_thread.run_sync(raw.close)
    if not database.is_sqlite and tally.imported:
        async with database.engine.connect() as conn:  # fresh statistics for what came in
            await conn.execute(text("ANALYZE residents, resident_tags, households, buildings"))
            await conn.commit()
    async with database.transaction() as session:
        finished = await repository.finish_import_job(
            session,
            job_id,
            replica=replica,
            status=status,
            message=note,
            finished_at=clock.now(),
            total=tally.total,
            imported=tally.imported,
            unchanged=tally.unchanged,
            failed=tally.failed,
        )
    if not finished:  # another replica took it up meanwhile: the file is its to delete
        return
    # The roster has done its work: its bad rows are kept (encrypted), the file is not.
    await store.delete(job.file_path)


def _track(state: State, work) -> None:
    tasks: set = state.import_tasks
    task = asyncio.create_task(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def run_in_background(state: State, job_id: str) -> None:
    """Run a new job on, past the request that started it; ``state.import_tasks`` holds
    it."""
    _track(
        state,
        run_import(
            state.database,
            state.cipher,
            state.store,
            job_id,
            replica=state.replica_id,
            lease_s=state.settings.import_lease_s,
            max_cell_chars=state.settings.import_max_cell_chars,
            in_memory_cells=state.settings.import_xlsx_in_memory_max_cells,
        ),
    )


def run_claimed_in_background(state: State, job: ImportJob) -> None:
    _track(
        state,
        run_claimed(
            state.database,
            state.cipher,
            state.store,
            job,
            replica=state.replica_id,
            lease_s=state.settings.import_lease_s,
            max_cell_chars=state.settings.import_max_cell_chars,
            in_memory_cells=state.settings.import_xlsx_in_memory_max_cells,
        ),
    )


async def resume_stalled(app: FastAPI) -> None:
    """At start-up: the jobs no live replica holds (queued, or running on a lease that has
    run out: their replica died) run again from the start, each claimed by one replica;
    re-importing changes nothing that was already written, so this is safe. A job another
    replica is running (its lease renewed) is left to it."""
    state = app.state
    state.import_tasks = set()
    state.replica_id = f"{socket.gethostname()[:40]}:{new_id()[-12:]}"
    lease_s = state.settings.import_lease_s
    async with state.database.transaction(write=False) as session:
        candidates = await repository.claimable_imports(session, clock.now())
    for job_id in candidates:
        async with state.database.transaction() as session:
            job = await repository.claim_import_job(
                session,
                job_id,
                replica=state.replica_id,
                now=clock.now(),
                lease_until=_lease_until(lease_s),
            )
        if job is not None:
            run_claimed_in_background(state, job)


async def cancel_running(app: FastAPI) -> None:
    """At shutdown: the jobs still running stop and are queued again for the replica that
    starts next (``resume_stalled`` takes them up)."""
    for task in list(app.state.import_tasks):
        task.cancel()
    replica = getattr(app.state, "replica_id", None)
    if replica is not None:
        async with app.state.database.transaction() as session:
            await repository.release_import_jobs(session, replica)
