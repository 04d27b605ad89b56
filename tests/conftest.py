"""One platform per test session, driven over HTTP through the gateway as a phone would.

The databases are real: SQLite files in a temporary folder, or — with ``DATABASE_URL`` —
PostgreSQL, where each component's schema is dropped and migrated afresh. Tests make their
own data with unique codes instead of rolling back, so that concurrency tests see real
commits from many sessions.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from gateway.app import create_app
from gateway.components import MIGRATION_TREES, migrate_all
from gateway.demo import DemoReport, ensure_demo_accounts
from services.common.clock import clock, start_of_day
from services.common.settings import DEMO_PASSWORD, Settings
from tests.factories import DISTRICT, HOME, STREET_A, STREET_B
from tests.support import DEMO_USERS, Api, unique


def pytest_asyncio_loop_factories(config, item):
    """Every story runs on the event loop the deployment runs on: uvicorn takes uvloop
    where it is installed. On asyncio's own loop a task that keeps the loop busy (a phone
    polling /locate) starves the threads that answer SQLite queries for seconds (each waits
    for the GIL the loop hands back and retakes at every select), which no served process
    sees."""
    try:
        import uvloop
    except ImportError:  # a platform uvloop does not build on: uvicorn falls back the same
        return {"asyncio": asyncio.new_event_loop}
    return {"uvloop": uvloop.new_event_loop}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``runs_last`` (the schemathesis run, which may set holidays, indicators
    and publish scores) go after every other test."""
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


def _reset_postgres(url: str) -> None:
    """Drop every component's schema so that migrations run from nothing."""
    parsed = make_url(url)

    async def run() -> None:
        conn = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
        )
        try:
            for component in MIGRATION_TREES:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{component}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    url = os.environ.get("DATABASE_URL", "")
    s = Settings(
        env="test",
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=url,
        rate_limit_ip_per_min=1_000_000,
        rate_limit_user_per_min=1_000_000,
        login_rate_ip_per_min=1_000_000,  # stories log in often; tests/gateway/test_abuse.py
        login_rate_username_per_min=1_000_000,  # tries the real limits
        log_json=False,
        demo_data=False,
        outbox_poll_s=0,  # tests sweep the outbox themselves, when the story needs it
    )
    if s.is_postgres:
        _reset_postgres(s.database_url_for("gateway"))
    migrate_all(s)
    return s


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await ensure_demo_accounts(application.state.database, DemoReport())
        yield application


@pytest.fixture(scope="session")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gongjian.test") as c:
        yield c


@pytest.fixture(scope="session")
async def tokens(client) -> dict[str, str]:
    """An access token for each demo account, logged in once for the session."""
    result = {}
    for username in DEMO_USERS:
        r = await client.post(
            "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}
        )
        assert r.status_code == 200, r.text
        result[username] = r.json()["access_token"]
    return result


@pytest.fixture
def api(client, tokens):
    """``api.admin.get(...)``, ``api.street.post(...)``, ``api.anon.get(...)``."""
    return Api(client, tokens)


def beijing_morning() -> datetime:
    """07:30 in Beijing: the local date is already today while the UTC date is still
    yesterday, the hours in which a platform that counts days in UTC is a day off."""
    return start_of_day(clock.today()) + timedelta(hours=7, minutes=30)


@pytest.fixture(scope="session", autouse=True)
def _clock_at_beijing_morning():
    """Every story starts at a Beijing morning; tokens and records of the session are made
    on that clock, and time runs on from there."""
    clock.pin(beijing_morning())
    yield
    clock.unpin()


@pytest.fixture(autouse=True)
def _reset_clock():
    yield
    clock.reset()


# --- the area tree every suite builds on -----------------------------------------------------

_next_community = itertools.count(10)


@pytest.fixture(scope="session")
async def base_areas(client, tokens):
    auth = {"Authorization": f"Bearer {tokens['demo-admin']}"}
    for code, name in (
        (DISTRICT, "金水区"),
        (STREET_A, "经八路街道"),
        (STREET_B, "花园路街道"),
        (HOME, "黄河路社区"),
        ("410105002001", "花园路社区"),
    ):
        r = await client.post(
            "/api/v1/registry/areas", json={"code": code, "name": name}, headers=auth
        )
        assert r.status_code in (201, 409), r.text
    return {"district": DISTRICT, "street_a": STREET_A, "street_b": STREET_B, "home": HOME}


@pytest.fixture(scope="session")
def community_maker(client, tokens, base_areas):
    """Creates a community under a street and returns its code (for session- and
    module-wide setups; a story takes ``new_community``)."""
    admin = Api(client, tokens).admin

    async def make(street: str = STREET_A, name: str = "测试社区") -> str:
        # A few stories draw fixed codes of their own (410105001150...): take the next free.
        while True:
            code = street[:9] + f"{next(_next_community):03d}"
            r = await admin.post("/api/v1/registry/areas", json={"code": code, "name": name})
            if r.status_code != 409:
                break
        assert r.status_code == 201, r.text
        return code

    return make


@pytest.fixture
def new_community(community_maker):
    """Creates a community under a street and returns its code."""
    return community_maker


# --- a patch of map and a grid worker of its own, for any story that draws cells ------------

_patches = itertools.count()


@pytest.fixture(scope="session")
def spot_maker():
    """Each call: the south-west corner of a 0.01° patch of Zhengzhou no other test draws on."""

    def make() -> tuple[float, float]:
        n = next(_patches)
        return 34.60 + (n // 40) * 0.012, 113.40 + (n % 40) * 0.012

    return make


@pytest.fixture
def spot(spot_maker):
    """The south-west corner of a 0.01° patch of Zhengzhou no other test draws on."""
    return spot_maker()


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
