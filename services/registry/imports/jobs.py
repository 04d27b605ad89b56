"""An import job from its stored file to the end: the file read and parsed one batch ahead of
the writer (``pipeline``), each batch written in its own transaction, the outcome recorded on
the job."""

from __future__ import annotations

import asyncio
import logging
import socket
from contextlib import aclosing
from datetime import date, timedelta

from fastapi import FastAPI
from sqlalchemy import text
from starlette.datastructures import State

from services.common.clock import clock
from services.common.database import Database
from services.common.errors import AppError
from services.common.i18n import message
from services.common.ids import new_id
from services.common.memory import give_back_memory
from services.common.pii import PiiCipher
from services.common.settings import Settings
from services.common.storage import ObjectMissing, ObjectStore
from services.registry import repository, rules
from services.registry.imports import pipeline
from services.registry.imports.reading import roster_suffix
from services.registry.imports.rows import Context
from services.registry.imports.writing import LeaseLost, Tally, Writer
from services.registry.models import ImportJob

log = logging.getLogger("gongjian.registry.imports")

# Rows per batch (one transaction each). Each transaction has a fixed cost of its own
# (~50 ms measured on PostgreSQL, whatever the batch's size): 1,000 gave ~4,500 rows/s,
# 2,500 ~6,000 rows/s with +40 MB, 5,000 ~6,600 rows/s with +55 MB (bench/registry.py).
# On SQLite a commit writes every page the batch touched to the WAL, and the blind indexes
# are random: 2,500 rows touch most of their pages, so twice the rows cost little more to
# commit. Not more: a batch in hand is ~5 KB a row, and the writer holds two (one applied,
# one prepared) and part of a third (arriving from the parser); 10,000 rows took the peak
# from 250 to 360 MB for a CPU time within the noise of a shared machine.
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


def _lease_until(lease_s: float):
    return clock.now() + timedelta(seconds=lease_s)


async def run_import(
    database: Database,
    cipher: PiiCipher,
    store: ObjectStore,
    job_id: str,
    *,
    replica: str,
    settings: Settings,
) -> None:
    """Claim a queued job for ``replica`` and process it from its stored file (a sealed
    object in the store) to the end."""
    async with database.transaction() as session:
        job = await repository.claim_import_job(
            session,
            job_id,
            replica=replica,
            now=clock.now(),
            lease_until=_lease_until(settings.import_lease_s),
        )
    if job is not None:
        await run_claimed(database, cipher, store, job, replica=replica, settings=settings)


async def _batches(
    store: ObjectStore, job: ImportJob, ctx: Context, settings: Settings, is_sqlite: bool
):
    """The job's parsed batches: from a process of its own for a roster of
    ``import_parse_process_min_bytes`` or more, from a thread for a smaller one. An xlsx of
    up to ``import_xlsx_in_memory_max_cells`` cells is read whole (python-calamine), a larger
    one streamed."""
    roster = pipeline.Roster(
        key=job.file_path,
        suffix=roster_suffix(job.file_path),
        kind=job.kind,
        encoding=job.encoding,
        in_memory=job.sheet_cells is not None
        and job.sheet_cells <= settings.import_xlsx_in_memory_max_cells,
        batch_rows=SQLITE_BATCH_ROWS if is_sqlite else BATCH_ROWS,
    )
    try:
        size = await store.size(job.file_path)
    except ObjectMissing:
        raise AppError("import.file_unreadable", 422) from None
    if size >= settings.import_parse_process_min_bytes:
        return pipeline.in_process(settings, roster, ctx)
    return pipeline.in_thread(store, roster, ctx)


async def _write_all(writer: Writer, kind: str, batches, tally: Tally, renew) -> None:
    """A pipeline of three: the parser reads ahead (``pipeline``), and each batch is
    prepared while the one before it is applied. The lease is renewed in each batch's own
    transaction: a batch is written only by the replica that still holds the job."""
    applying: asyncio.Task | None = None
    try:
        async for batch in batches:
            plan = await writer.prepare(kind, batch)
            if applying is not None:
                await applying
            applying = asyncio.create_task(writer.apply(plan, tally, renew))
        if applying is not None:
            await applying
    except asyncio.CancelledError:
        # A shutdown: the batch in flight is rolled back; the job runs again from the start.
        if applying is not None and not applying.done():
            applying.cancel()
            await asyncio.gather(applying, return_exceptions=True)
        raise
    except BaseException:
        # Preparing failed: the batch in flight is written or fails on its own, as it would
        # have before this one was read, and the job's counts say what was written.
        if applying is not None:
            await asyncio.gather(applying, return_exceptions=True)
        raise


async def run_claimed(
    database: Database,
    cipher: PiiCipher,
    store: ObjectStore,
    job: ImportJob,
    *,
    replica: str,
    settings: Settings,
) -> None:
    """Process a job ``replica`` holds, renewing its lease with every batch."""
    job_id = job.id
    tally = Tally()
    lease_s = settings.import_lease_s
    try:
        ctx = await _context(database, job, cipher, clock.today(), settings.import_max_cell_chars)
        writer = Writer(database, cipher, job)

        async def renew(session) -> bool:
            return await repository.renew_import_lease(
                session, job_id, replica=replica, lease_until=_lease_until(lease_s)
            )

        batches = await _batches(store, job, ctx, settings, database.is_sqlite)
        async with aclosing(batches), writer.holding_connection():
            await _write_all(writer, job.kind, batches, tally, renew)
        status, note = "done", None
    except LeaseLost:
        log.warning("import lease lost; another replica runs it", extra={"job": job_id})
        return
    except AppError as exc:
        status, note = "failed", message(exc.code, "zh", **exc.params)
    except Exception:
        log.exception("import failed", extra={"job": job_id})
        status, note = "failed", message("server.error", "zh")
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
    await give_back_memory()  # the batches' memory, which the heap would otherwise keep
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
            settings=state.settings,
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
            settings=state.settings,
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
