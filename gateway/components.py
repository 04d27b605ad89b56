"""The components of the platform and where their migrations live."""

from __future__ import annotations

from pathlib import Path

from gateway.app import MIGRATIONS as GATEWAY_MIGRATIONS
from services.assessment.app import MIGRATIONS as ASSESSMENT_MIGRATIONS
from services.common import migrations
from services.common.settings import Settings
from services.grid.app import MIGRATIONS as GRID_MIGRATIONS
from services.registry.app import MIGRATIONS as REGISTRY_MIGRATIONS
from services.volunteer.app import MIGRATIONS as VOLUNTEER_MIGRATIONS

MIGRATION_TREES: dict[str, Path] = {
    "gateway": GATEWAY_MIGRATIONS,
    "registry": REGISTRY_MIGRATIONS,
    "grid": GRID_MIGRATIONS,
    "volunteer": VOLUNTEER_MIGRATIONS,
    "assessment": ASSESSMENT_MIGRATIONS,
}


def migrate_all(settings: Settings) -> None:
    for component, tree in MIGRATION_TREES.items():
        migrations.upgrade(component, tree, settings)
