"""The volunteer service as an ASGI app: run alone (split mode) or inside the gateway."""

from pathlib import Path

from fastapi import FastAPI

from services.common.app import create_component_app
from services.common.database import Database
from services.common.settings import Settings
from services.volunteer import messages  # noqa: F401 - registers the volunteer sentences
from services.volunteer.api import routers
from services.volunteer.consumers import consumer
from services.volunteer.models import Base

NAME = "volunteer"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    return create_component_app(
        NAME,
        title="Gongjian Volunteer: registration, teams, activities, the hours ledger",
        metadata=Base.metadata,
        routers=routers,
        settings=settings,
        database=database,
        consumer=consumer,
    )
