"""The registry service as an ASGI app: run alone (split mode) or inside the gateway."""

from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select, update

from services.common.app import create_component_app
from services.common.database import Database
from services.common.settings import Settings
from services.registry import messages  # noqa: F401 - registers the registry's sentences
from services.registry.api import router, start_import_task
from services.registry.models import Base, ImportJob

NAME = "registry"
MIGRATIONS = Path(__file__).parent / "migrations"


async def resume_imports(app: FastAPI) -> None:
    """Jobs cut short by a restart run again from the start; re-importing changes nothing
    that was already written, so this is safe."""
    app.state.import_tasks = set()
    async with app.state.database.transaction() as session:
        stalled = list(
            (
                await session.scalars(
                    select(ImportJob.id).where(ImportJob.status.in_(("queued", "running")))
                )
            ).all()
        )
        if stalled:
            await session.execute(
                update(ImportJob).where(ImportJob.id.in_(stalled)).values(status="queued")
            )
    for job_id in stalled:
        start_import_task(app, job_id)


async def finish_imports(app: FastAPI) -> None:
    for task in list(app.state.import_tasks):
        task.cancel()


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    return create_component_app(
        NAME,
        title="Gongjian Registry: areas, buildings, households, residents, units",
        metadata=Base.metadata,
        routers=[router],
        settings=settings,
        database=database,
        on_startup=[resume_imports],
        on_shutdown=[finish_imports],
    )
