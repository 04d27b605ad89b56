"""The registry's routes, one module per subject: parse, call the service, answer."""

from services.registry.api.areas import router as areas_router
from services.registry.api.buildings import router as buildings_router
from services.registry.api.history import router as history_router
from services.registry.api.households import router as households_router
from services.registry.api.imports import router as imports_router
from services.registry.api.residents import router as residents_router
from services.registry.api.stats import router as stats_router
from services.registry.api.sync import router as sync_router
from services.registry.api.units import router as units_router

routers = [
    areas_router,
    stats_router,
    buildings_router,
    households_router,
    residents_router,
    units_router,
    imports_router,
    sync_router,
    history_router,
]
