"""What the grid service asks of the registry: the cell of each building, counts per cell,
and what changed in a worker's cells."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import clock
from services.common.history import record_many
from services.registry import repository
from services.registry.models import change_history
from services.registry.repository import ChangedInCells
from services.registry.service.buildings import record_cell_moves

# Who placed a building in its cell when no person did: the grid, from the cells drawn.
AUTOMATIC_PLACEMENT = "网格自动划分"


async def assign_cells(*, session: AsyncSession, principal: Principal, assignments) -> int:
    """Set each building's cell: the current cells read in one query, the changed ones
    written (their moves recorded for the phones' sync, and in each building's history) in
    one executemany each."""
    wanted = {a.building_id: a.cell_code for a in assignments}
    if not wanted:
        return 0
    current = await repository.building_cells(session, list(wanted))
    now = clock.now()
    changed = [
        {"b_id": bid, "cell": cell, "now": now, "was": current[bid][0]}
        for bid, cell in wanted.items()
        if bid in current and current[bid][0] != cell
    ]
    if changed:
        await repository.set_building_cells(session, changed)
        await record_cell_moves(session, [(c["b_id"], c["was"], c["cell"]) for c in changed], now)
        await record_many(
            session,
            change_history,
            record_type="building",
            actor_id=principal.user_id,
            actor_name=principal.name or AUTOMATIC_PLACEMENT,
            action="cell_assigned",
            entries=[
                (
                    c["b_id"],
                    current[c["b_id"]][1],
                    {"cell_code": c["was"]},
                    {"cell_code": c["cell"]},
                )
                for c in changed
            ],
        )
    return len(changed)


async def cell_counts(
    *, session: AsyncSession, principal: Principal, cells: list[str]
) -> dict[str, dict[str, int]]:
    """Buildings, households and current residents of each cell within the caller's scope;
    the others are left out."""
    return await repository.cell_counts(session, principal, cells)


async def changed_in_cells(
    *,
    session: AsyncSession,
    principal: Principal,
    cells: list[str],
    since: datetime | None,
    until: datetime,
) -> ChangedInCells:
    """What a grid worker's phone holds of its cells (those within the caller's scope),
    changed in (since, until]."""
    return await repository.changed_in_cells(session, principal, cells, since, until)
