"""The grid service as an ASGI app: run alone (split mode) or inside the gateway."""

from pathlib import Path

from fastapi import FastAPI

from services.common.app import create_component_app
from services.common.database import Database
from services.common.settings import Settings
from services.grid import messages  # noqa: F401 - registers the grid's sentences
from services.grid.api import routers
from services.grid.consumers import consumer
from services.grid.models import Base
from services.grid.service.reminders import start_reminders
from services.grid.service.state import GridState

NAME = "grid"
MIGRATIONS = Path(__file__).parent / "migrations"


async def start(app: FastAPI) -> None:
    app.state.grid = GridState(app.state.settings)
    # Tests sweep by hand (services.grid.service.reminders.remind_due), as with the outbox.
    if app.state.settings.outbox_poll_s > 0:
        app.state.reminders = start_reminders(app.state)


async def stop(app: FastAPI) -> None:
    task = getattr(app.state, "reminders", None)
    if task is not None:
        task.cancel()
    await app.state.grid.stop()


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    app = create_component_app(
        NAME,
        title="Gongjian Grid: cells, grid workers, visits, cases, offline sync",
        metadata=Base.metadata,
        routers=routers,
        settings=settings,
        database=database,
        on_startup=[start],
        on_shutdown=[stop],
        consumer=consumer,
    )
    app.state.grid = GridState(app.state.settings)
    return app
