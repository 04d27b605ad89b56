"""The volunteer service's routes, one module per subject: parse, call the service, answer."""

from services.volunteer.api.activities import router as activities_router
from services.volunteer.api.history import router as history_router
from services.volunteer.api.ledger import router as ledger_router
from services.volunteer.api.signups import router as signups_router
from services.volunteer.api.stats import router as stats_router
from services.volunteer.api.teams import router as teams_router
from services.volunteer.api.volunteers import router as volunteers_router

# /volunteers/me before /volunteers/{id}: the volunteers module declares it first.
routers = [
    volunteers_router,
    ledger_router,
    teams_router,
    activities_router,
    signups_router,
    stats_router,
    history_router,
]
