"""Abuse at the edge: password guessing is slowed per address and per username before any
hashing is done, the client's address is the one a trusted proxy vouches for and no other,
and downloads are never sniffed into something else."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx

from gateway.app import create_app
from services.common.clientaddr import client_address
from tests.support import assert_problem


@asynccontextmanager
async def edge(settings, peer: str, **limits):
    app = create_app(settings.model_copy(update=limits))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_a_guesser_gets_429_after_a_few_logins_from_one_address(settings):
    async with edge(settings, "10.7.0.1", login_rate_ip_per_min=3) as c:
        codes = []
        for i in range(4):
            r = await c.post("/api/v1/auth/token", json={"username": f"u{i}", "password": "x"})
            codes.append(r.status_code)
        assert codes[:3] == [401, 401, 401]
        body = assert_problem(r, 429, "request.rate_limited")
        assert int(r.headers["retry-after"]) >= 1 and body["detail"]


async def test_one_username_from_many_addresses_is_limited_too(settings):
    app = create_app(settings.model_copy(update={"login_rate_username_per_min": 2}))
    async with app.router.lifespan_context(app):
        codes = []
        for i in range(3):  # a botnet: another address each time, the same account
            transport = httpx.ASGITransport(app=app, client=(f"10.7.1.{i}", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                r = await c.post(
                    "/api/v1/auth/token", json={"username": "Demo-Admin", "password": "x"}
                )
                codes.append(r.status_code)
        assert codes == [401, 401, 429]


async def test_behind_a_trusted_proxy_each_user_has_their_own_limit(settings):
    """Behind nginx every request comes from nginx; the forwarded address counts instead,
    and only when nginx is the peer."""
    async with edge(
        settings, "172.18.0.5", login_rate_ip_per_min=2, trusted_proxies=["172.18.0.0/16"]
    ) as c:
        for user in ("203.0.113.7", "203.0.113.8", "203.0.113.9"):
            for _ in range(2):
                r = await c.post(
                    "/api/v1/auth/token",
                    json={"username": "nobody", "password": "x"},
                    headers={"X-Forwarded-For": user},
                )
                assert r.status_code == 401, r.text
    # a client that is not the proxy cannot pick its own address by writing the header
    async with edge(settings, "198.51.100.1", login_rate_ip_per_min=2) as c:
        codes = []
        for i in range(3):
            r = await c.post(
                "/api/v1/auth/token",
                json={"username": "nobody", "password": "x"},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            )
            codes.append(r.status_code)
        assert codes == [401, 401, 429]


def test_the_forwarded_address_is_read_from_the_right():
    scope = {
        "client": ("10.0.0.2", 1),
        "headers": [(b"x-forwarded-for", b"1.2.3.4, 203.0.113.9, 10.0.0.3")],
    }
    # a client wrote 1.2.3.4 itself; the outer proxy 10.0.0.3 saw 203.0.113.9
    assert client_address(scope, ["10.0.0.0/8"]) == "203.0.113.9"
    assert client_address(scope, []) == "10.0.0.2"


async def test_answers_are_never_sniffed(api):
    r = await api.admin.get("/api/v1/registry/import-templates/residents.xlsx")
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert (await api.anon.get("/healthz")).headers["x-content-type-options"] == "nosniff"
