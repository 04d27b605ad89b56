"""Each component's migrations create exactly what its models describe, on the database the
suite runs on: a column added to a model without a migration fails here, not in production."""

from __future__ import annotations

import importlib
import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.components import MIGRATION_TREES
from services.common.database import Database

MODELS = {
    "gateway": "gateway.models",
    "registry": "services.registry.models",
    "grid": "services.grid.models",
    "volunteer": "services.volunteer.models",
    "assessment": "services.assessment.models",
}


@pytest.mark.parametrize("component", sorted(MIGRATION_TREES))
async def test_migrations_match_the_models(settings, component):
    metadata = importlib.import_module(MODELS[component]).Base.metadata
    database = Database(settings.database_url_for(component), schema=component)
    version_table = f"alembic_version_{component}"
    # What a migration makes for one database only, beside the models (declared there).
    outside = getattr(importlib.import_module(MODELS[component]), "OUTSIDE_THE_MODELS", ())

    def modelled(obj, name, kind, reflected, compare_to):
        return not any(name == own or name.startswith(f"{own}_") for own in outside)

    def diff(connection):
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "version_table": version_table,
                "include_object": modelled,
            },
        )
        with warnings.catch_warnings():
            # SQLite reads back no index on an expression: those are outside the models.
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            return compare_metadata(context, metadata)

    try:
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(diff)
    finally:
        await database.dispose()
    assert differences == [], differences
