"""Events the gateway acts on: it keeps the accounts, so it keeps their scope in step with
what the services decide (a grid worker's cells)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import service
from gateway.models import inbox
from services.common.events import Consumer


async def grid_members_changed(session: AsyncSession, payload: dict[str, Any]) -> None:
    for change in payload["users"]:
        await service.apply_grid_worker_cells(
            session=session, user_id=change["user_id"], cells=change["cells"]
        )


def consumer(app: FastAPI) -> Consumer:
    handlers = Consumer("gateway", app.state.database, inbox)
    handlers.on("grid.members_changed", grid_members_changed)
    return handlers
