"""Events across services: a resident moves out in the registry, and the volunteer service
hears of it — even when it was down at the time."""

from __future__ import annotations

from services.common.clock import clock
from tests.factories import volunteer


def component(app, name):
    return next(a for a in app.state.embedded_apps if a.state.component == name)


async def test_a_move_out_reaches_the_volunteer_service_even_after_it_was_down(
    api, app, new_community
):
    community = await new_community()
    caller, v = await volunteer(api, community)
    resident_id = (
        await api.admin.get("/api/v1/registry/residents", params={"community": community})
    ).json()["items"][0]["id"]
    registry = component(app, "registry")
    bus = registry.state.bus
    await registry.state.publisher.run_once()  # anything earlier tests left behind

    # The volunteer service is down when the resident moves out: delivery right after the
    # commit fails, and the event stays in the registry's outbox.
    subscribers = bus.subscribers["resident.moved_out"]

    async def down(event_id, payload):
        raise ConnectionError("volunteer service is down")

    bus.subscribers["resident.moved_out"] = [down]
    try:
        r = await api.admin.post(
            f"/api/v1/registry/residents/{resident_id}/move-out",
            json={"moved_out_on": clock.today().isoformat(), "reason": "搬家"},
        )
        assert r.status_code == 200
        assert await registry.state.publisher.run_once() == 0
    finally:
        bus.subscribers["resident.moved_out"] = subscribers
    assert (await caller.get("/api/v1/volunteer/volunteers/me")).json()["status"] == "active"

    # It comes back: the event is delivered once, and acted on once.
    assert await registry.state.publisher.run_once() == 1
    assert (await caller.get("/api/v1/volunteer/volunteers/me")).json()["status"] == "pending"
    assert await registry.state.publisher.run_once() == 0
    # A duplicate delivery (a redelivery after a lost ack) changes nothing.
    await api.street.post(f"/api/v1/volunteer/volunteers/{v['id']}/approve")
    from sqlalchemy import select

    from services.registry.models import outbox

    async with registry.state.database.transaction(write=False) as session:
        event = (
            await session.execute(
                select(outbox)
                .where(outbox.c.topic == "resident.moved_out")
                .order_by(outbox.c.created_at.desc())
            )
        ).first()
    for deliver in bus.subscribers["resident.moved_out"]:
        await deliver(event.id, event.payload)
    assert (await caller.get("/api/v1/volunteer/volunteers/me")).json()["status"] == "active"


async def test_a_move_out_reaches_the_volunteer_service_before_the_answer(api, app, new_community):
    """In one process the event is delivered right after the commit: the community worker
    who moved the resident out sees the volunteer back under review at once."""
    community = await new_community()
    caller, v = await volunteer(api, community)
    resident_id = (
        await api.admin.get("/api/v1/registry/residents", params={"community": community})
    ).json()["items"][0]["id"]
    r = await api.admin.post(
        f"/api/v1/registry/residents/{resident_id}/move-out",
        json={"moved_out_on": clock.today().isoformat(), "reason": "搬家"},
    )
    assert r.status_code == 200, r.text
    assert (await caller.get("/api/v1/volunteer/volunteers/me")).json()["status"] == "pending"
