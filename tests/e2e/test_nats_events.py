"""The split mode's bus: NATS JetStream keeps an event until a consumer that was not there
when it was published comes and takes it."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from services.common.events import NatsBus
from tests.support import unique

NATS_URL = os.environ.get("GONGJIAN_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _nats_up() -> bool:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _nats_up(), reason=f"no NATS server at {NATS_URL} on this machine"
)


async def test_an_event_published_while_the_consumer_is_away_is_delivered_when_it_comes():
    topic = f"test.{unique('t')}"
    publisher = NatsBus(NATS_URL)
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

    consumer = NatsBus(NATS_URL)
    await consumer.connect()
    try:
        await consumer.consume("tests", topic, deliver)
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        await consumer.close()
    assert [p["n"] for _, p in received] == [1, 2]
