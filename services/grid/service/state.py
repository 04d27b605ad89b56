"""The grid's in-memory cell index and working calendar, kept current without a request
ever waiting for a rebuild.

A cell changed in this process is laid over the index at its commit (a few cells, so the
201 is followed at once by locates that find it); the index is then built afresh in a
worker thread and swapped in, and a burst of changes is one build after the one running.
Another process's changes are found in the background: every ``INDEX_TTL_S`` one row says
whether cells changed (their count and latest ``updated_at``); if so, and anyway every
``INDEX_SCAN_S``, each row's ``updated_at`` is compared with the index's."""

from __future__ import annotations

import asyncio
import logging
import time as monotonic

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import local_zone
from services.common.settings import Settings, get_settings
from services.grid import repository
from services.grid.calendar import WorkCalendar
from services.grid.geometry import CellIndex, CellShape
from services.grid.models import Cell

log = logging.getLogger("gongjian.grid")

INDEX_TTL_S = 5.0  # another process's cell changes reach this one's index within this
# A change the count and latest stamp miss (a commit that came long after its stamp, behind
# a newer one) is found by the full comparison within this.
INDEX_SCAN_S = 60.0
# Past this many changed rows one query for every live cell beats a long IN list.
READ_ALL_ABOVE = 500


def work_calendar(holidays) -> WorkCalendar:
    """The working calendar of the deployment's zone with these holidays and make-up days."""
    return WorkCalendar(
        zone=local_zone(),
        holidays=frozenset(h.day for h in holidays if not h.working),
        workdays=frozenset(h.day for h in holidays if h.working),
    )


def cell_shape(cell: Cell) -> CellShape | None:
    """The index's view of a cell row: None for a deleted one."""
    if cell.deleted_at is not None:
        return None
    return CellShape.of(cell.code, cell.name, cell.community_code, cell.boundary, cell.updated_at)


class GridState:
    """Per process: the locate index and the working calendar."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.index = CellIndex.build([])
        self.calendar: WorkCalendar | None = None
        self.loaded = False
        self.polled_at = -1e9
        self.scanned_at = -1e9
        self._fingerprint: tuple | None = None
        # Builds that swap the index in (first load, another process's changes, compaction)
        # run one at a time, each taking again the changes laid over since it began.
        self.lock = asyncio.Lock()
        self._calendar_changes = 0  # a holiday read is taken only if none came since
        self._wanted: set[str] = set()
        self._worker: asyncio.Task | None = None
        self._database = None

    # --- reading -------------------------------------------------------------------------

    async def current(self, database) -> CellIndex:
        """The index to answer with now: it waits only for the process's first load."""
        if not self.loaded:
            async with self.lock:
                if not self.loaded:
                    await self._load(database)
        elif monotonic.monotonic() - self.polled_at > INDEX_TTL_S:
            self.polled_at = monotonic.monotonic()
            self._want("poll", database)
        return self.index

    async def current_calendar(self, database) -> WorkCalendar:
        """The working calendar to count with now (KPIs, deadlines): it never waits for the
        cell index. A process that has just started reads its holidays alone and has its
        first index built off the request."""
        if self.loaded:
            await self.current(database)  # polls, holidays included, when due
            return self.calendar
        if self.calendar is None:
            changes = self._calendar_changes
            async with database.transaction(write=False) as session:
                holidays = await repository.holidays(session)
            self._take_calendar(holidays, changes)
        self._want("load", database)
        return self.calendar

    async def refreshed(self, database) -> CellIndex:
        """The index once other processes' committed changes are in it, for work that acts
        on a change another process may have made (placing buildings after a cell's event).
        It polls at once, beside the background worker: a poll only lays changes over, and
        each swap takes again what the others laid over, so neither waits for the other."""
        await self.current(database)
        await self._poll(database, scan=True)
        return self.index

    async def settled(self) -> CellIndex:
        """The index once the background work asked for so far is done."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)
        return self.index

    # --- changes in this process ---------------------------------------------------------

    def cells_changed_with(self, session: AsyncSession, *cells: Cell) -> None:
        """``cells`` change in ``session``: from its commit (and so before the change's
        answer leaves, which comes after the commit) the index holds them as they are."""
        changes = {cell.code: cell_shape(cell) for cell in cells}
        event.listen(
            session.sync_session, "after_commit", lambda _s: self._lay_over(changes), once=True
        )

    def holidays_changed_with(self, session: AsyncSession, days) -> None:
        calendar = work_calendar(days)

        def take(_session) -> None:
            self._calendar_changes += 1
            self.calendar = calendar

        event.listen(session.sync_session, "after_commit", take, once=True)

    def _lay_over(self, changes: dict[str, CellShape | None]) -> None:
        self.index = self.index.with_changes(changes)
        self._want("compact")

    # --- building, off the request path --------------------------------------------------

    def _want(self, job: str, database=None) -> None:
        """Ask the background worker for ``job``; asked again while it runs, a job runs once
        more after, however often it was asked."""
        if database is not None:
            self._database = database
        self._wanted.add(job)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        while self._wanted:
            job = next(j for j in ("load", "poll", "compact") if j in self._wanted)
            self._wanted.discard(job)
            try:
                async with self.lock:
                    if job == "load":
                        if not self.loaded:  # the first request may have loaded it meanwhile
                            await self._load(self._database)
                    elif job == "poll":
                        await self._poll(self._database)
                    else:
                        await self._compact()
            except Exception:
                # The index in hand keeps answering; the next poll or change tries again.
                log.exception("grid index %s", job)

    async def rebuild(self, database) -> None:
        """Every live cell read afresh and built into a new index, which is swapped in."""
        async with self.lock:
            await self._load(database)

    async def _load(self, database) -> None:
        before, calendar_changes = self.index, self._calendar_changes
        async with database.transaction(write=False) as session:
            fingerprint = await repository.cell_map_fingerprint(session)
            rows = await repository.live_cell_rows(session)
            holidays = await repository.holidays(session)
        built = await asyncio.to_thread(lambda: CellIndex.build(CellShape.many(rows)))
        self._fingerprint, self.scanned_at = fingerprint, monotonic.monotonic()
        self.index = built.with_changes(self.index.changes_since(before))
        self._take_calendar(holidays, calendar_changes)
        self._database = database
        self.loaded = True
        self.polled_at = monotonic.monotonic()
        if self.index.changed:
            self._want("compact")

    async def _poll(self, database, *, scan: bool = False) -> None:
        """Other processes' changes: rows whose ``updated_at`` differs from the index's, and
        cells the index has that are no longer live."""
        before, calendar_changes = self.index, self._calendar_changes
        async with database.transaction(write=False) as session:
            fingerprint = await repository.cell_map_fingerprint(session)
            holidays = await repository.holidays(session)
            scan = scan or monotonic.monotonic() - self.scanned_at > INDEX_SCAN_S
            if fingerprint == self._fingerprint and not scan:
                self._take_calendar(holidays, calendar_changes)
                return
            versions = await repository.live_cell_versions(session)
            stale = [
                code
                for code, version in versions.items()
                if (known := before.cells.get(code)) is None or known.version != version
            ]
            rows = []
            if stale:
                wanted = None if len(stale) > READ_ALL_ABOVE else stale
                rows = await repository.live_cell_rows(session, wanted)
        self._fingerprint, self.scanned_at = fingerprint, monotonic.monotonic()
        stale_codes = set(stale)
        rows = [r for r in rows if r[0] in stale_codes]
        changes: dict[str, CellShape | None] = {c: None for c in before.cells if c not in versions}
        if rows:
            changes.update((s.code, s) for s in await asyncio.to_thread(CellShape.many, rows))
        # A change laid over here meanwhile is newer than (or the same as) what was read.
        changes = {
            code: cell
            for code, cell in changes.items()
            if self.index.cells.get(code) is before.cells.get(code)
        }
        self.index = self.index.with_changes(changes)
        self._take_calendar(holidays, calendar_changes)
        if self.index.changed:
            self._want("compact")

    async def _compact(self) -> None:
        before = self.index
        if not before.changed:
            return
        built = await asyncio.to_thread(before.compacted)
        self.index = built.with_changes(self.index.changes_since(before))

    def _take_calendar(self, holidays, calendar_changes: int) -> None:
        calendar = work_calendar(holidays)
        if self._calendar_changes == calendar_changes and calendar != self.calendar:
            self.calendar = calendar

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
