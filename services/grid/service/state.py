"""The grid's in-memory cell index and working calendar, rebuilt when cells change."""

from __future__ import annotations

import asyncio
import time as monotonic

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import local_zone
from services.common.settings import Settings, get_settings
from services.grid import repository
from services.grid.calendar import WorkCalendar
from services.grid.geometry import CellIndex

INDEX_TTL_S = 5.0  # another process's cell changes reach this one's index within this


class GridState:
    """Per process: the locate index and the working calendar, rebuilt when stale."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.index = CellIndex.build([])
        self.names: dict[str, tuple[str, str]] = {}
        self.built_at = -1e9
        # Each committed change of cells or holidays counts one; the index knows which count
        # it was read at. A rebuild that read before a commit is thus never taken for one
        # that read after it (a flag cleared when the rebuild starts was: a phone's locate
        # between the change and its commit rebuilt without the new cell and cleared it).
        self.changes = 0
        self.built_for = -1
        self.lock = asyncio.Lock()
        self.calendar: WorkCalendar | None = None

    def changed(self) -> None:
        """Cells or holidays changed, and are committed: the next read rebuilds."""
        self.changes += 1

    def changed_with(self, session: AsyncSession) -> None:
        """Cells or holidays change in ``session``: the index is stale from its commit (and
        so before the change's answer leaves, which comes after the commit)."""
        event.listen(session.sync_session, "after_commit", lambda _s: self.changed(), once=True)

    def _stale(self) -> bool:
        return self.built_for != self.changes or monotonic.monotonic() - self.built_at > INDEX_TTL_S

    async def current(self, database) -> CellIndex:
        if self._stale():
            async with self.lock:
                if self._stale():
                    await self.rebuild(database)
        return self.index

    async def rebuild(self, database) -> None:
        changes = self.changes  # read before the cells: a commit after this rebuilds again
        async with database.transaction(write=False) as session:
            cells = await repository.live_cells(session)
            holidays = await repository.holidays(session)
        from shapely.geometry import shape

        self.index = CellIndex.build((c.code, shape(c.boundary)) for c in cells)
        self.names = {c.code: (c.name, c.community_code) for c in cells}
        self.calendar = WorkCalendar(
            zone=local_zone(),
            holidays=frozenset(h.day for h in holidays if not h.working),
            workdays=frozenset(h.day for h in holidays if h.working),
        )
        self.built_at = monotonic.monotonic()
        self.built_for = changes
