"""The registry service as an ASGI app: run alone (split mode) or inside the gateway."""

from pathlib import Path

from fastapi import FastAPI

from services.common.app import create_component_app
from services.common.database import Database
from services.common.settings import Settings
from services.registry import messages  # noqa: F401 - registers the registry's sentences
from services.registry.api import routers
from services.registry.imports.jobs import cancel_running, resume_stalled
from services.registry.models import Base

NAME = "registry"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    return create_component_app(
        NAME,
        title="Gongjian Registry: areas, buildings, households, residents, units",
        metadata=Base.metadata,
        routers=routers,
        settings=settings,
        database=database,
        # Import jobs cut short by a restart run again; those running stop at shutdown.
        on_startup=[resume_stalled],
        on_shutdown=[cancel_running],
    )
