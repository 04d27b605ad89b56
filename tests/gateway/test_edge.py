"""What every request meets at the front door: errors in one shape, request ids, gzip,
limits, health and the merged API description."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, datetime

import httpx

from gateway.app import create_app
from services.common.clock import clock
from tests.factories import report, setup_cell, step
from tests.support import assert_problem


async def test_unknown_path_is_a_problem_404(api):
    assert_problem(await api.anon.get("/api/v1/nothing-here"), 404, "request.not_found")
    assert_problem(await api.admin.get("/api/v1/registry/nothing-here"), 404, "request.not_found")


async def test_wrong_method_is_a_problem_405(api):
    assert_problem(await api.admin.delete("/api/v1/me"), 405, "request.method_not_allowed")


async def test_malformed_json_is_a_422_not_a_500(api):
    r = await api.admin.post(
        "/api/v1/users", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(r, 422, "request.malformed_json")


async def test_a_wrong_type_names_the_field(api):
    r = await api.anon.post("/api/v1/auth/token", json={"username": ["a"], "password": "x"})
    body = assert_problem(r, 422, "validation.string_type")
    assert body["errors"][0]["field"] == "username"
    assert body["errors"][0]["message"] == "应为文本。"


async def test_english_on_request(api):
    r = await api.anon.post(
        "/api/v1/auth/token",
        json={"username": "demo-admin", "password": "wrong-one"},
        headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    body = assert_problem(r, 401, "auth.invalid_credentials")
    assert body["detail"].startswith("Wrong username or password")
    zh = await api.anon.post(
        "/api/v1/auth/token", json={"username": "demo-admin", "password": "wrong-one"}
    )
    assert "用户名或密码错误" in zh.json()["detail"]
    # The title names the kind of problem, in the reader's language, the same for every
    # occurrence (RFC 9457: it changes only to be localised).
    assert (body["title"], zh.json()["title"]) == ("Unauthorized", "未通过身份验证")


async def test_a_problem_title_is_the_kind_of_problem_in_chinese(api):
    first = await api.anon.post("/api/v1/auth/token", json={"username": ["a"], "password": "x"})
    other = await api.admin.post(
        "/api/v1/users", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert first.json()["title"] == other.json()["title"] == "请求数据有误"
    missing = await api.admin.get("/api/v1/registry/residents/no-such-one")
    assert missing.json()["title"] == "记录不存在或无权查看"


async def test_a_body_over_the_limit_is_a_413(api):
    r = await api.anon.post(
        "/api/v1/auth/token",
        content=b'{"username": "' + b"a" * (3 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(r, 413, "request.too_large")


async def test_a_streamed_body_over_the_limit_is_a_413(api):
    async def chunks():
        for _ in range(40):
            yield b"x" * (100 * 1024)

    r = await api.anon.post(
        "/api/v1/auth/token", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(r, 413, "request.too_large")


async def test_request_id_is_made_or_passed_through(api):
    r = await api.anon.get("/healthz")
    assert len(r.headers["x-request-id"]) >= 16
    r = await api.anon.get("/healthz", headers={"X-Request-ID": "phone-abc-123"})
    assert r.headers["x-request-id"] == "phone-abc-123"
    r = await api.admin.get("/api/v1/registry/nothing", headers={"X-Request-ID": "phone-xyz"})
    assert r.headers["x-request-id"] == "phone-xyz"


async def test_gzip_when_accepted_and_large(api):
    r = await api.anon.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"
    small = await api.anon.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers


async def test_health_readiness_and_metrics(api):
    assert (await api.anon.get("/healthz")).json()["status"] == "ok"
    assert (await api.anon.get("/readyz")).json()["status"] == "ready"
    metrics = await api.anon.get("/metrics")
    assert metrics.status_code == 200
    assert "gongjian_http_requests_total" in metrics.text


async def test_openapi_merges_every_service_and_docs_are_served(api):
    doc = (await api.anon.get("/openapi.json")).json()
    assert "/api/v1/auth/token" in doc["paths"]
    assert "/api/v1/me" in doc["paths"]
    op_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(op_ids) == len(set(op_ids))
    docs = await api.anon.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_rate_limit_per_ip_answers_429_with_retry_after(settings):
    tight = settings.model_copy(update={"rate_limit_ip_per_min": 3})
    app = create_app(tight)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            codes = [(await c.post("/api/v1/auth/token", json={})).status_code for _ in range(4)]
            assert codes[:3] == [422, 422, 422]
            r = await c.post("/api/v1/auth/token", json={})
            body = assert_problem(r, 429, "request.rate_limited")
            assert int(r.headers["retry-after"]) >= 1
            assert body["detail"]
            # health checks are never limited
            assert (await c.get("/healthz")).status_code == 200


async def test_rate_limit_per_user(settings, tokens):
    tight = settings.model_copy(update={"rate_limit_user_per_min": 2})
    app = create_app(tight)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.9.8", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            auth = {"Authorization": f"Bearer {tokens['demo-grid']}"}
            assert (await c.get("/api/v1/me", headers=auth)).status_code == 200
            assert (await c.get("/api/v1/me", headers=auth)).status_code == 200
            assert_problem(await c.get("/api/v1/me", headers=auth), 429, "request.rate_limited")
            other = {"Authorization": f"Bearer {tokens['demo-unit']}"}
            assert (await c.get("/api/v1/me", headers=other)).status_code == 200


async def test_two_gateway_replicas_share_one_rate_limit(settings):
    """Behind a load balancer each request may reach another gateway: the limit is one for
    the client, not one per replica. The counts go through the gateway's database."""
    shared = settings.model_copy(
        update={
            "rate_limit_ip_per_min": 10,
            "rate_limit_store": "database",
            "rate_limit_sync_s": 3600,  # the story syncs by hand, where a replica would
        }
    )
    minute_start = (int(clock.now().timestamp()) // 60 + 1) * 60
    clock.set(datetime.fromtimestamp(minute_start + 5, UTC))
    replicas = [create_app(shared), create_app(shared)]
    address = ("10.9.7." + str(minute_start % 250), 1)
    async with AsyncExitStack() as stack:
        clients = []
        for replica in replicas:
            await stack.enter_async_context(replica.router.lifespan_context(replica))
            transport = httpx.ASGITransport(app=replica, client=address)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://t")
                )
            )
        a, b = clients
        counts_a, counts_b = (r.state.edge_limits.counts for r in replicas)
        minute = minute_start // 60

        for _ in range(6):
            assert (await a.get("/api/v1/me")).status_code == 401
        await counts_a.sync(minute)
        assert (await b.get("/api/v1/me")).status_code == 401
        await counts_b.sync(minute)  # B learns the 6 that A let through
        codes = [(await b.get("/api/v1/me")).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        r = await b.get("/api/v1/me")
        assert_problem(r, 429, "request.rate_limited")
        # 5 s into a minute whose predecessor was quiet: room comes back when the next
        # minute starts, 55 s from now.
        assert int(r.headers["retry-after"]) == 55


async def test_a_wrong_choice_lists_the_choices_in_chinese(api, new_community, spot, worker):
    """A grid worker picks a priority or a step that does not exist: the message lists the
    allowed values the Chinese way (、 and 之一), with no English "or" in it."""
    cell, reporter, point = await setup_cell(api, new_community, spot, worker)
    r = await reporter.post(
        "/api/v1/grid/cases",
        json={
            "category_code": "01.01",
            "description": "路边堆放垃圾",
            "lat": point[0],
            "lng": point[1],
            "priority": "asap",
        },
    )
    body = assert_problem(r, 422, "validation.literal_error")
    assert body["errors"][0]["field"] == "priority"
    assert body["errors"][0]["message"] == "取值应为:normal、urgent 之一。"
    case = await report(reporter, point)
    body = assert_problem(await step(reporter, case["id"], "finish"), 422)
    message = body["errors"][0]["message"]
    assert message.startswith("取值应为:accept、reject、dispatch、") and message.endswith(
        "、evaluate 之一。"
    ), message
    assert " or " not in message and "'" not in message
    en = await reporter.post(
        f"/api/v1/grid/cases/{case['id']}/transitions",
        json={"action": "finish"},
        headers={"Accept-Language": "en"},
    )
    assert en.json()["errors"][0]["message"].startswith("Must be one of: 'accept', 'reject'")
    assert en.json()["errors"][0]["message"].endswith(" or 'evaluate'.")


async def test_an_unknown_address_is_titled_as_one(api):
    """A phone calls an address no service has: the title says the address does not exist,
    not that a record is missing or out of scope; a missing record keeps its own title."""
    for path in ("/api/v1/nothing-here", "/api/v1/registry/nothing-here"):
        r = await api.admin.get(path)
        body = assert_problem(r, 404, "request.not_found")
        assert body["title"] == "地址不存在" and body["detail"] == "请求的地址不存在。"
        en = await api.admin.get(path, headers={"Accept-Language": "en"})
        assert en.json()["title"] == "No such endpoint"
    missing = await api.admin.get("/api/v1/registry/residents/no-such-one")
    assert missing.json()["title"] == "记录不存在或无权查看"
