"""Events the gateway acts on: it keeps the accounts, so it keeps their scope in step with
what the services decide (a grid worker's cells)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import repository, service
from gateway.models import inbox
from gateway.notifications.events import handlers as notification_handlers
from services.common.events import FILES_ATTACHED, FILES_SHARED, Consumer


async def grid_members_changed(session: AsyncSession, payload: dict[str, Any]) -> None:
    for change in payload["users"]:
        await service.apply_grid_worker_cells(
            session=session, user_id=change["user_id"], cells=change["cells"]
        )


async def files_attached(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A service attached uploads to one of its records: they are that record's now."""
    await repository.attach_files(session, payload["file_ids"], payload["area"])


async def files_shared(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A record was sent to a stationed unit: its contacts read the record's uploads."""
    await repository.share_files(session, payload["file_ids"], payload.get("unit_id"))


async def volunteer_activated(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A resident's volunteer registration matched them in the registry and is active: their
    account is that resident's."""
    await repository.link_resident(
        session, payload["user_id"], payload["resident_id"], payload.get("name")
    )


def consumer(app: FastAPI) -> Consumer:
    handlers = Consumer("gateway", app.state.database, inbox)
    handlers.on("grid.members_changed", grid_members_changed)
    handlers.on(FILES_ATTACHED, files_attached)
    handlers.on(FILES_SHARED, files_shared)
    handlers.on("volunteer.activated", volunteer_activated)
    for topic, handler in notification_handlers(
        app.state.settings, getattr(app.state, "notification_sender", None)
    ).items():
        handlers.on(topic, handler)
    return handlers
