"""My work 我的工作: what a grid worker opens the app for — the cases dispatched to them,
the ones they reported that are still open, what is due soon in their cells, and the
households still to visit this quarter."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.registry import RegistryClient
from services.common.clock import clock, local_zone
from services.common.periods import parse_period
from services.grid import repository
from services.grid.service.cases import actionable_statuses

LIMIT = 20


def current_quarter() -> str:
    today = clock.today()
    return f"{today.year}Q{(today.month - 1) // 3 + 1}"


async def my_work(
    *, session: AsyncSession, principal: Principal, peers, token, due_within_h: float
) -> dict:
    now = clock.now()
    cells = await repository.cells_of_member(session, principal.user_id)
    assigned = await repository.my_cases(session, principal, assigned=True, limit=LIMIT)
    reported = await repository.my_cases(session, principal, assigned=False, limit=LIMIT)
    # Due soon: what the caller can act on, not every case of their cells that waits on
    # someone else (a reported case waits on the community).
    due = await repository.due_in_cells(
        session,
        principal,
        cells,
        now + timedelta(hours=due_within_h),
        LIMIT,
        statuses=actionable_statuses(principal),
    )
    period = parse_period(current_quarter())
    start, end = period.bounds(local_zone())
    visited = await repository.visited_households_by_cell(session, cells, start, end)
    counts = await RegistryClient(peers, token=token).cell_counts(cells=cells) if cells else []
    households = {c.cell_code: c.households for c in counts}
    visits = [
        {
            "cell_code": cell,
            "period": period.label,
            "households": households.get(cell, 0),
            "visited": visited.get(cell, 0),
            "to_visit": max(households.get(cell, 0) - visited.get(cell, 0), 0),
        }
        for cell in cells
    ]
    return {
        "now": now,
        "assigned": assigned,
        "reported": reported,
        "due_soon": due,
        "visits": visits,
    }
