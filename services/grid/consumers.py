"""Events the grid acts on: its own ``grid.cells_changed``, recorded with a cell's change,
places the community's buildings again through the registry's API. The event is what makes
that write certain: a registry that is down fails the delivery, and it comes again."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.events import Consumer
from services.grid.models import inbox
from services.grid.service import cells as cell_service


def consumer(app: FastAPI) -> Consumer:
    async def cells_changed(session: AsyncSession, payload: dict[str, Any]) -> None:
        await cell_service.reassign_buildings(app, payload["community_code"])

    handlers = Consumer("grid", app.state.database, inbox)
    handlers.on("grid.cells_changed", cells_changed)
    return handlers
