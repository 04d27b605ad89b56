"""The grid's in-memory cell index and working calendar, rebuilt when cells change."""

from __future__ import annotations

import asyncio
import time as monotonic

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
        self.dirty = True
        self.lock = asyncio.Lock()
        self.calendar: WorkCalendar | None = None

    async def current(self, database) -> CellIndex:
        if self.dirty or monotonic.monotonic() - self.built_at > INDEX_TTL_S:
            async with self.lock:
                if self.dirty or monotonic.monotonic() - self.built_at > INDEX_TTL_S:
                    await self.rebuild(database)
        return self.index

    async def rebuild(self, database) -> None:
        self.dirty = False
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
