"""Nobody has to poll: each account has an inbox the services' events fill, and a copy goes
to WeChat as a subscribe message where the user accepted that kind."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from gateway.notifications.providers import (
    DeliveryError,
    RealSubscribeProvider,
    SubscribeMessage,
)
from services.common.clock import clock
from services.common.settings import Settings
from tests.factories import (
    DISTRICT,
    YEAR,
    activity,
    agreement_body,
    staff_account,
    unit_with_contact,
    volunteer,
)
from tests.support import assert_problem, make_id_number


@pytest.fixture
def wechat(app):
    """The fake subscribe-message provider the platform sends through."""
    provider = app.state.notification_sender.provider
    provider.sent.clear()
    provider.failures.clear()
    return provider


async def inbox(caller, **params) -> dict:
    r = await caller.get("/api/v1/notifications", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def community_worker(api, community: str):
    return await staff_account(api, "community_admin", community)


async def test_a_worker_is_told_of_a_volunteer_to_review_and_marks_it_read(api, new_community):
    community = await new_community()
    worker = await community_worker(api, community)
    elsewhere = await community_worker(api, await new_community())
    resident = await api.resident()
    r = await resident.post(
        "/api/v1/volunteer/volunteers",
        json={
            "name": "王小明",
            "id_number": make_id_number(),
            "phone": "13700002222",
            "community_code": community,
        },
    )
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text

    box = await inbox(worker)
    assert box["unread"] == 1
    [note] = box["items"]
    assert note["kind"] == "volunteer_review" and note["kind_name"] == "志愿者待审核"
    assert "王小明" in note["body"] and "未在居民登记中找到" in note["body"]
    assert note["subject_id"] == r.json()["id"] and note["created_at"].endswith("+08:00")
    assert (await inbox(elsewhere))["unread"] == 0  # another community's worker is not told

    read = await worker.post(f"/api/v1/notifications/{note['id']}/read")
    assert read.status_code == 200 and read.json()["read_at"]
    assert (await worker.get("/api/v1/notifications/unread-count")).json() == {"unread": 0}
    assert (await inbox(worker, unread="true"))["items"] == []
    # Someone else's notification is not there to read.
    assert_problem(await elsewhere.post(f"/api/v1/notifications/{note['id']}/read"), 404)


async def test_a_resident_who_accepted_the_template_gets_one_subscribe_message(
    api, new_community, wechat
):
    community = await new_community()
    caller, _ = await volunteer(api, community)
    other, _ = await volunteer(api, community)
    event = await activity(api, community, title="敬老院探访", capacity=5)
    for who in (caller, other):
        r = await who.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
        assert r.status_code == 201, r.text
    kinds = {s["kind"]: s for s in (await caller.get("/api/v1/notifications/subscriptions")).json()}
    template = kinds["activity_cancelled"]["template_id"]
    # What wx.requestSubscribeMessage answered on the phone, handed on by the mini-program.
    r = await caller.post(
        "/api/v1/notifications/subscriptions", json={"results": {template: "accept"}}
    )
    assert r.status_code == 200, r.text
    assert {s["kind"]: s for s in r.json()}["activity_cancelled"]["remaining"] == 1

    assert (await api.admin.post(f"/api/v1/volunteer/activities/{event['id']}/cancel")).is_success

    for who in (caller, other):
        [note] = (await inbox(who))["items"]
        assert note["kind"] == "activity_cancelled" and "敬老院探访" in note["body"]
    mine = (await inbox(caller))["items"][0]
    assert [d["status"] for d in mine["deliveries"]] == ["sent"]
    assert (await inbox(other))["items"][0]["deliveries"] == []  # never accepted: inbox only
    [sent] = wechat.sent
    assert sent.openid == caller.openid and sent.template_id == template
    assert sent.data["thing1"]["value"] == "活动已取消"
    # One acceptance, one message: the credit is spent.
    kinds = {s["kind"]: s for s in (await caller.get("/api/v1/notifications/subscriptions")).json()}
    assert kinds["activity_cancelled"]["remaining"] == 0

    unknown = await caller.post(
        "/api/v1/notifications/subscriptions", json={"results": {"no-such-template": "accept"}}
    )
    assert assert_problem(unknown, 422)["errors"][0]["field"] == "results"


async def test_a_failed_send_is_tried_again_later_and_a_refusal_stops(
    app, api, new_community, wechat
):
    community = await new_community()
    caller, _ = await volunteer(api, community)
    events = [
        await activity(api, community, title=f"活动{n}", start_in=timedelta(days=2 + n))
        for n in range(2)
    ]
    for event in events:
        assert (await caller.post(f"/api/v1/volunteer/activities/{event['id']}/signups")).is_success
    template = "dev-activity_cancelled"
    for _ in range(2):
        await caller.post(
            "/api/v1/notifications/subscriptions", json={"results": {template: "accept"}}
        )
    wechat.failures.append(-1)  # WeChat is busy the first time
    assert (
        await api.admin.post(f"/api/v1/volunteer/activities/{events[0]['id']}/cancel")
    ).is_success
    [delivery] = (await inbox(caller))["items"][0]["deliveries"]
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert wechat.sent == []

    sender = app.state.notification_sender
    assert await sender.send_due() == 0  # not due yet: it waits before trying again
    clock.advance(timedelta(seconds=app.state.settings.notification_retry_base_s + 1))
    assert await sender.send_due() == 1
    [delivery] = (await inbox(caller))["items"][0]["deliveries"]
    assert delivery["status"] == "sent" and delivery["attempts"] == 2

    wechat.failures.append(43101)  # the user switched the messages off in WeChat
    assert (
        await api.admin.post(f"/api/v1/volunteer/activities/{events[1]['id']}/cancel")
    ).is_success
    [delivery] = (await inbox(caller))["items"][0]["deliveries"]
    assert delivery["status"] == "refused"
    kinds = {s["kind"]: s for s in (await caller.get("/api/v1/notifications/subscriptions")).json()}
    assert kinds["activity_cancelled"]["refused"] is True
    assert kinds["activity_cancelled"]["remaining"] == 0


async def test_the_real_provider_renews_a_stale_token_and_says_when_to_retry():
    calls: list[str] = []

    def wechat(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/cgi-bin/stable_token":
            return httpx.Response(200, json={"access_token": f"t{len(calls)}", "expires_in": 7200})
        token = request.url.params["access_token"]
        if token == "t1":
            return httpx.Response(200, json={"errcode": 42001, "errmsg": "access_token expired"})
        if b"busy" in request.content:
            return httpx.Response(200, json={"errcode": -1, "errmsg": "system busy"})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    settings = Settings(env="test", wechat_api_base="https://wx.example", wechat_app_id="wxa")
    async with httpx.AsyncClient(transport=httpx.MockTransport(wechat)) as http:
        provider = RealSubscribeProvider(settings, http)
        message = SubscribeMessage("openid-1", "tmpl", "/pages/x", {"thing1": {"value": "v"}})
        await provider.send(message)
        assert calls == [
            "/cgi-bin/stable_token",
            "/cgi-bin/message/subscribe/send",
            "/cgi-bin/stable_token",
            "/cgi-bin/message/subscribe/send",
        ]
        busy = SubscribeMessage("openid-1", "tmpl", None, {"thing1": {"value": "busy"}})
        with pytest.raises(DeliveryError) as caught:
            await provider.send(busy)
        assert caught.value.retry and not caught.value.refused


async def test_a_unit_and_its_community_are_told_what_waits_for_them(api, new_community):
    """An agreement to sign goes to the other side; a record the unit adds goes to the
    community to confirm; each model-community step goes to the level that acts next."""
    community = await new_community()
    worker = await community_worker(api, community)
    unit, contact = await unit_with_contact(api, community)
    r = await worker.post(
        "/api/v1/assessment/agreements", json=agreement_body(unit["id"], community)
    )
    assert r.status_code == 201, r.text
    agreement = r.json()
    [ask] = (await inbox(contact))["items"]
    assert ask["kind"] == "agreement_to_sign" and ask["subject_id"] == agreement["id"]
    sign = f"/api/v1/assessment/agreements/{agreement['id']}/sign"
    assert (await contact.post(sign, json={"party": "unit"})).is_success
    [ask] = (await inbox(worker))["items"]  # the unit signed: the community's turn
    assert ask["kind"] == "agreement_to_sign" and unit["name"] in ask["body"]
    assert (await worker.post(sign, json={"party": "community"})).is_success

    r = await contact.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/records",
        json={
            "pledge_id": agreement["pledges"][0]["id"],
            "day": clock.today().isoformat(),
            "quantity": 1,
            "description": "便民服务",
        },
    )
    assert r.status_code == 201, r.text
    kinds = [n["kind"] for n in (await inbox(worker))["items"]]
    assert kinds[0] == "record_to_confirm"

    r = await worker.post(
        "/api/v1/assessment/applications",
        json={"community_code": community, "year": YEAR, "statement": "申报示范社区"},
    )
    assert r.status_code == 201, r.text
    application = r.json()
    street = (await inbox(api.street))["items"]
    assert any(
        n["kind"] == "application_step" and n["subject_id"] == application["id"] for n in street
    )
    district = await district_admin(api)
    steps = f"/api/v1/assessment/applications/{application['id']}/transitions"
    assert (await api.street.post(steps, json={"action": "recommend"})).is_success
    [note] = [n for n in (await inbox(district))["items"] if n["subject_id"] == application["id"]]
    assert "待区县审批" in note["title"]
    assert (await district.post(steps, json={"action": "approve"})).is_success
    decided = [n for n in (await inbox(worker))["items"] if n["kind"] == "application_step"]
    assert decided and "已获批准" in decided[0]["title"]


async def district_admin(api):
    return await staff_account(api, "district_admin", DISTRICT)


async def test_a_record_to_confirm_goes_to_its_community_and_to_the_street_only_without_one(
    api, new_community
):
    """The community confirms its units' records; its street office, which sees every
    community's, is asked only for a community that has no worker yet."""
    from tests.factories import STREET_A, active_agreement

    street = await staff_account(api, "street_admin", STREET_A, "街道王")

    async def record_in(community: str) -> str:
        _, contact, agreement = await active_agreement(api, community)
        r = await contact.post(
            f"/api/v1/assessment/agreements/{agreement['id']}/records",
            json={
                "pledge_id": agreement["pledges"][0]["id"],
                "day": clock.today().isoformat(),
                "quantity": 1,
                "description": "便民服务",
            },
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def asked(caller, record: str) -> list[str]:
        return [
            n["kind"]
            for n in (await inbox(caller, limit=100))["items"]
            if n["subject_id"] == record
        ]

    staffed = await new_community()
    worker = await community_worker(api, staffed)
    record = await record_in(staffed)
    assert await asked(worker, record) == ["record_to_confirm"]
    assert await asked(street, record) == []

    unstaffed = await new_community()
    record = await record_in(unstaffed)
    assert await asked(street, record) == ["record_to_confirm"]
