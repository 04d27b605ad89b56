"""The assessment service as an ASGI app: run alone (split mode) or inside the gateway."""

from pathlib import Path

from fastapi import FastAPI

from services.assessment import messages  # noqa: F401 - registers the assessment sentences
from services.assessment.api import routers
from services.assessment.models import Base
from services.common.app import create_component_app
from services.common.database import Database
from services.common.settings import Settings

NAME = "assessment"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    return create_component_app(
        NAME,
        title="Gongjian Assessment: co-building agreements and the assessment of communities",
        metadata=Base.metadata,
        routers=routers,
        settings=settings,
        database=database,
    )
