"""The one failure policy of the typed clients, against a stand-in peer: whatever goes wrong
over there is a 503, a 504 or a 502 naming the peer here — a 4xx only where the call said
what it meant — never a 500 and never a silently degraded answer."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict

from services.common.clients import base
from services.common.clients.base import Endpoint, PeerClient
from services.common.errors import AppError, NotFound
from services.common.peers import Peers
from services.common.settings import Settings


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: int


stand_in = FastAPI()
gate = asyncio.Event()


@stand_in.get("/ok")
async def ok() -> dict:
    return {"value": 7, "more": "ignored"}


@stand_in.get("/broken")
async def broken() -> dict:
    raise RuntimeError("a bug in the peer")


@stand_in.get("/down")
async def down() -> PlainTextResponse:
    return PlainTextResponse("maintenance", status_code=502)


@stand_in.get("/missing")
async def missing() -> PlainTextResponse:
    return PlainTextResponse("no such thing", status_code=404)


@stand_in.get("/garbled")
async def garbled() -> dict:
    return {"value": "not a number"}


@stand_in.get("/html")
async def html() -> PlainTextResponse:
    return PlainTextResponse("<html>proxy page</html>")


@stand_in.get("/slow")
async def slow() -> dict:
    await gate.wait()  # never set: the peer does not answer
    return {"value": 0}


def endpoint(path: str) -> Endpoint:
    declared = Endpoint("stand-in", "GET", path, response=Answer)
    # Not a peer's operation: the contract test must not look for it in a callee.
    base._ENDPOINTS.remove(declared)
    return declared


class StandIn(PeerClient):
    service = "stand-in"

    async def get(self, path: str, **kwargs):
        return await self.call(endpoint(path), **kwargs)


@pytest.fixture
def settings() -> Settings:
    return Settings(env="test", peer_timeout_s=0.2)


@pytest.fixture
async def embedded(settings):
    peers = Peers(settings, "caller", apps={"stand-in": stand_in})
    yield StandIn(peers)
    await peers.aclose()


async def failure(call) -> AppError:
    with pytest.raises(AppError) as caught:
        await call
    return caught.value


async def test_an_answer_reads_as_the_model_and_ignores_the_rest(embedded):
    assert (await embedded.get("/ok")).value == 7


@pytest.mark.parametrize("path", ["/broken", "/down"])
async def test_a_peer_that_fails_is_503_naming_it(embedded, path):
    error = await failure(embedded.get(path))
    assert (error.code, error.status, error.params) == (
        "upstream.unavailable",
        503,
        {"service": "stand-in"},
    )


async def test_a_peer_that_does_not_answer_in_time_is_504_naming_it(embedded):
    error = await failure(embedded.get("/slow"))
    assert (error.code, error.status, error.params) == (
        "upstream.timeout",
        504,
        {"service": "stand-in"},
    )


async def test_a_4xx_the_call_mapped_is_the_call_s_own_error(embedded):
    with pytest.raises(NotFound):
        await embedded.get("/missing", errors={404: NotFound})


@pytest.mark.parametrize("path", ["/missing", "/garbled", "/html"])
async def test_an_unmapped_4xx_or_an_unreadable_answer_is_502_naming_the_peer(embedded, path):
    error = await failure(embedded.get(path))
    assert (error.code, error.status, error.params) == (
        "upstream.bad_response",
        502,
        {"service": "stand-in"},
    )


async def test_a_peer_nobody_listens_for_is_503_naming_it(settings):
    # Port 9 (discard) on the loopback: refused at once, as a stopped process in split mode.
    peers = Peers(settings, "caller", urls={"stand-in": "http://127.0.0.1:9"})
    try:
        error = await failure(StandIn(peers).get("/ok"))
    finally:
        await peers.aclose()
    assert (error.code, error.status, error.params) == (
        "upstream.unavailable",
        503,
        {"service": "stand-in"},
    )
