"""The grid service's routes, one module per subject."""

from services.grid.api.cases import router as cases_router
from services.grid.api.cells import router as cells_router
from services.grid.api.history import router as history_router
from services.grid.api.open311 import router as open311_router
from services.grid.api.sync import router as sync_router
from services.grid.api.visits import router as visits_router
from services.grid.api.work import router as work_router

routers = [
    cells_router,
    visits_router,
    cases_router,
    sync_router,
    open311_router,
    work_router,
    history_router,
]
