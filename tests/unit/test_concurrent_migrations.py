"""Replicas that start at once each migrate first (Kubernetes init containers): they take
turns, and every one finds its database at head."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from gateway.components import MIGRATION_TREES, migrate_all
from tests.support import drop_database, fresh_database


def test_three_replicas_migrating_at_once_all_reach_head(tmp_path):
    """Processes, as replicas are (Alembic's context is one per process)."""
    settings, created = fresh_database(tmp_path)
    try:
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=3, mp_context=spawn) as pool:
            runs = [pool.submit(migrate_all, settings) for _ in range(3)]
            for run in runs:
                run.result(timeout=300)  # a replica that failed raises here
        migrate_all(settings)  # and once more: nothing left to do, nothing fails
        assert len(MIGRATION_TREES) == 5
    finally:
        if created:
            drop_database(created)
