"""Helpers for tests that talk to the platform as its users do."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import uuid
from datetime import date, timedelta

import asyncpg
import httpx
from sqlalchemy.engine import make_url
from stdnum.cn import ric

from services.common.settings import Settings

_counter = itertools.count(1)
_ID_BIRTH_DAYS = 60 * 365
_ID_OLD_BIRTH_DAYS = 40 * 365
_id_serial = itertools.count(random.randrange(_ID_BIRTH_DAYS * 900))


class Caller:
    """An HTTP client acting as one user (or as nobody)."""

    def __init__(
        self, client: httpx.AsyncClient, token: str | None = None, username: str | None = None
    ) -> None:
        self.client = client
        self.token = token
        self.username = username
        self.openid: str | None = None

    def _headers(self, headers: dict | None) -> dict:
        merged = dict(headers or {})
        if self.token:
            merged.setdefault("Authorization", f"Bearer {self.token}")
        return merged

    async def get(self, url: str, *, headers: dict | None = None, **kw) -> httpx.Response:
        return await self.client.get(url, headers=self._headers(headers), **kw)

    async def post(self, url: str, *, headers: dict | None = None, **kw) -> httpx.Response:
        return await self.client.post(url, headers=self._headers(headers), **kw)

    async def put(self, url: str, *, headers: dict | None = None, **kw) -> httpx.Response:
        return await self.client.put(url, headers=self._headers(headers), **kw)

    async def patch(self, url: str, *, headers: dict | None = None, **kw) -> httpx.Response:
        return await self.client.patch(url, headers=self._headers(headers), **kw)

    async def delete(self, url: str, *, headers: dict | None = None, **kw) -> httpx.Response:
        return await self.client.delete(url, headers=self._headers(headers), **kw)


DEMO_USERS = (
    "demo-admin",
    "demo-district",
    "demo-street",
    "demo-community",
    "demo-grid",
    "demo-unit",
)


class Api:
    def __init__(self, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.anon = Caller(client)
        self.admin = Caller(client, tokens["demo-admin"])
        self.district = Caller(client, tokens["demo-district"])
        self.street = Caller(client, tokens["demo-street"])
        self.community = Caller(client, tokens["demo-community"])
        self.grid = Caller(client, tokens["demo-grid"])
        self.unit = Caller(client, tokens["demo-unit"])

    def as_token(self, token: str) -> Caller:
        return Caller(self.client, token)

    async def login(self, username: str, password: str) -> Caller:
        r = await self.client.post(
            "/api/v1/auth/token", json={"username": username, "password": password}
        )
        assert r.status_code == 200, r.text
        return Caller(self.client, r.json()["access_token"], username)

    async def resident(self, openid: str | None = None) -> Caller:
        """A resident logged in through the fake WeChat provider (the same openid is the
        same person next time)."""
        openid = openid or unique("wx")
        r = await self.client.post("/api/v1/auth/wechat", json={"code": f"test:{openid}"})
        assert r.status_code == 200, r.text
        caller = Caller(self.client, r.json()["access_token"])
        caller.openid = openid
        return caller


def unique(prefix: str = "t") -> str:
    return f"{prefix}{next(_counter)}{random.randrange(10**6):06d}"


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "code", "errors"}, body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


def changes_of(entry: dict) -> list[dict]:
    """A history entry's changes as codes (field, old, new), without the names beside them."""
    return [{k: c[k] for k in ("field", "old", "new")} for c in entry["changes"]]


def make_id_number(
    birth: date | None = None, region: str = "410105", seq: int | None = None
) -> str:
    """A synthetic citizen ID with a valid check digit that no other call in this run draws
    (random draws did collide, now and then, across the 500 volunteers of one test).

    Numbers come from serials that start at a random place, so two runs on one database
    almost never meet either. The three kinds of call draw from disjoint parts of the space:
    neither given → born 1940–1999 with order code 000–899; birth given → order code
    900–999; order code given → born 1900–1939."""
    if birth is None and seq is None:
        n = next(_id_serial)
        birth = date(1940, 1, 1) + timedelta(days=(n // 900) % _ID_BIRTH_DAYS)
        seq = n % 900
    elif seq is None:
        seq = 900 + next(_id_serial) % 100
    elif birth is None:
        birth = date(1900, 1, 1) + timedelta(days=next(_id_serial) % _ID_OLD_BIRTH_DAYS)
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def streamed_upload(fields: dict[str, str], name: str, content: bytes, chunk: int = 64 * 1024):
    """A multipart body sent in ``chunk``-sized pieces, as a server receives it from the
    network (httpx's in-process transport would otherwise hand it over as one message):
    for stories that watch the server's memory. Answers (headers, body) for ``post``."""
    boundary = "gongjian-" + unique("b")
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )

    async def body():
        yield head.encode()
        view = memoryview(content)
        for start in range(0, len(content), chunk):
            yield bytes(view[start : start + chunk])
        yield f"\r\n--{boundary}--\r\n".encode()

    return {"content-type": f"multipart/form-data; boundary={boundary}"}, body()


def _on_server(sql: str) -> None:
    """One statement on DATABASE_URL's server, outside any transaction (CREATE DATABASE)."""
    parsed = make_url(os.environ["DATABASE_URL"])

    async def run() -> None:
        conn = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            database=parsed.database,
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def fresh_database(tmp_path) -> tuple[Settings, str | None]:
    """Settings for an empty database of a test's own: SQLite files in ``tmp_path``, or a
    new PostgreSQL database beside ``DATABASE_URL``'s (its name, for ``drop_database``)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return Settings(env="test", data_dir=tmp_path), None
    name = f"migrate_{uuid.uuid4().hex[:12]}"
    _on_server(f'CREATE DATABASE "{name}"')
    fresh = make_url(url).set(database=name).render_as_string(hide_password=False)
    return Settings(env="test", data_dir=tmp_path, database_url=fresh), name


def drop_database(name: str) -> None:
    _on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
