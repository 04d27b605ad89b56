"""Events the volunteer service acts on."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import clock
from services.common.events import Consumer
from services.volunteer import repository
from services.volunteer.models import inbox


async def resident_moved_out(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A volunteer matched to a resident who moved out no longer belongs to that community
    without a look: back to pending, for the community worker to review."""
    await repository.deactivate_moved_out(session, payload["resident_id"], clock.now())


def consumer(app: FastAPI) -> Consumer:
    handlers = Consumer("volunteer", app.state.database, inbox)
    handlers.on("resident.moved_out", resident_moved_out)
    return handlers
