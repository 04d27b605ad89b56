"""The assessment service's routes, one module per subject: parse, call the service, answer."""

from services.assessment.api.agreements import router as agreements_router
from services.assessment.api.applications import router as applications_router
from services.assessment.api.history import router as history_router
from services.assessment.api.indicators import router as indicators_router
from services.assessment.api.meetings import router as meetings_router
from services.assessment.api.scores import router as scores_router

routers = [
    agreements_router,
    meetings_router,
    indicators_router,
    scores_router,
    applications_router,
    history_router,
]
