"""Grid fixtures: a fresh community and a fresh patch of map for each test, and a grid
worker of its own (so no test changes another's scope)."""

from __future__ import annotations

import itertools

import pytest

from tests.support import unique

_patches = itertools.count()


@pytest.fixture
def spot():
    """The south-west corner of a 0.01° patch of Zhengzhou no other test draws on."""
    n = next(_patches)
    return 34.60 + (n // 40) * 0.012, 113.40 + (n % 40) * 0.012


@pytest.fixture
def worker(api, base_areas):
    """A grid worker of its own, created by the community admin; returns (user_id, caller)."""

    async def make(scope: str):
        username = unique("gw")
        r = await api.admin.post(
            "/api/v1/users",
            json={
                "username": username,
                "password": "grid-pass-1",
                "role": "grid_worker",
                "scope": [scope],
            },
        )
        assert r.status_code == 201, r.text
        return r.json()["id"], username

    return make
