"""Logging in: staff by password, residents through WeChat, tokens that expire and rotate."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from gateway.wechat import RealWeChatProvider
from services.common.clock import clock
from services.common.errors import AppError
from services.common.settings import DEMO_PASSWORD
from tests.support import assert_problem, unique


async def make_staff(api, role="grid_worker", scope=("410105001001",), password="s3cret-pass"):
    username = unique("u")
    r = await api.admin.post(
        "/api/v1/users",
        json={"username": username, "password": password, "role": role, "scope": list(scope)},
    )
    assert r.status_code == 201, r.text
    return username, password


async def test_demo_admin_logs_in_and_sees_roles_and_scope(api):
    caller = await api.login("demo-admin", DEMO_PASSWORD)
    me = (await caller.get("/api/v1/me")).json()
    assert me["username"] == "demo-admin"
    assert me["roles"] == ["platform_admin"]
    assert me["scope"] == ["*"]
    assert me["kind"] == "staff"


async def test_a_token_answers_with_its_shape(client):
    r = await client.post(
        "/api/v1/auth/token", json={"username": "demo-street", "password": DEMO_PASSWORD}
    )
    body = r.json()
    assert r.status_code == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["access_token"] and body["refresh_token"]


async def test_wrong_password_and_unknown_user_get_the_same_401(api):
    wrong = await api.anon.post(
        "/api/v1/auth/token", json={"username": "demo-street", "password": "nope-nope"}
    )
    unknown = await api.anon.post(
        "/api/v1/auth/token", json={"username": unique("ghost"), "password": "nope-nope"}
    )
    a = assert_problem(wrong, 401, "auth.invalid_credentials")
    b = assert_problem(unknown, 401, "auth.invalid_credentials")
    assert a["detail"] == b["detail"]


async def test_five_failures_lock_the_account_for_fifteen_minutes(api):
    username, password = await make_staff(api)
    for _ in range(5):
        r = await api.anon.post(
            "/api/v1/auth/token", json={"username": username, "password": "x" * 9}
        )
        assert_problem(r, 401, "auth.invalid_credentials")
    # Locked: even the right password is refused, with the same answer as a wrong one.
    r = await api.anon.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert_problem(r, 401, "auth.invalid_credentials")
    clock.advance(timedelta(minutes=14))
    r = await api.anon.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert_problem(r, 401, "auth.invalid_credentials")
    clock.advance(timedelta(minutes=2))
    r = await api.anon.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text


async def test_failures_spread_beyond_the_window_do_not_lock(api):
    username, password = await make_staff(api)
    for _ in range(4):
        await api.anon.post("/api/v1/auth/token", json={"username": username, "password": "x" * 9})
    clock.advance(timedelta(minutes=16))
    await api.anon.post("/api/v1/auth/token", json={"username": username, "password": "x" * 9})
    r = await api.anon.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text


async def test_no_token_bad_token_and_expired_token(api, client):
    assert_problem(await api.anon.get("/api/v1/me"), 401, "auth.required")
    r = await client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert_problem(r, 401, "auth.token_invalid")
    clock.advance(timedelta(minutes=16))
    assert_problem(await api.admin.get("/api/v1/me"), 401, "auth.token_expired")


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(api, client):
    username, _ = await make_staff(api)
    r = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": "s3cret-pass"}
    )
    first = r.json()["refresh_token"]
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert r.status_code == 200, r.text
    second = r.json()["refresh_token"]
    assert second != first
    holder = api.as_token(r.json()["access_token"])
    assert (await holder.get("/api/v1/me")).status_code == 200

    # The spent token comes back (a thief, or a replay): refused, and the family is revoked.
    assert_problem(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": first}),
        401,
        "auth.refresh_reused",
    )
    assert_problem(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": second}),
        401,
        "auth.refresh_reused",
    )
    # ... and the access token the thief may hold stops now, in every service, not in 15 min.
    assert_problem(await holder.get("/api/v1/me"), 401, "auth.token_revoked")
    assert_problem(await holder.get("/api/v1/registry/residents"), 401, "auth.token_revoked")


async def test_logout_ends_the_login_everywhere_within_seconds(api, client):
    username, _ = await make_staff(api)
    r = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": "s3cret-pass"}
    )
    pair = r.json()
    holder = api.as_token(pair["access_token"])
    assert (await holder.get("/api/v1/grid/cases")).status_code == 200
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert out.status_code == 204
    for path in ("/api/v1/me", "/api/v1/grid/cases", "/api/v1/volunteer/teams"):
        assert_problem(await holder.get(path), 401, "auth.token_revoked")
    assert_problem(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
        401,
    )
    # a new login counts again
    again = await api.login(username, "s3cret-pass")
    assert (await again.get("/api/v1/me")).status_code == 200


async def test_unknown_and_expired_refresh_tokens(client):
    assert_problem(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43}),
        401,
        "auth.refresh_invalid",
    )
    r = await client.post(
        "/api/v1/auth/token", json={"username": "demo-grid", "password": DEMO_PASSWORD}
    )
    clock.advance(timedelta(days=31))
    assert_problem(
        await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": r.json()["refresh_token"]}
        ),
        401,
        "auth.refresh_invalid",
    )


async def test_wechat_first_login_creates_a_resident_and_the_next_finds_it(api, client):
    openid = unique("oWx")
    first = await client.post("/api/v1/auth/wechat", json={"code": f"test:{openid}"})
    assert first.status_code == 200, first.text
    me1 = (await api.as_token(first.json()["access_token"]).get("/api/v1/me")).json()
    assert me1["roles"] == ["resident"]
    assert me1["kind"] == "resident"
    assert openid not in str(me1)  # the subject is our id, never the openid
    second = await client.post("/api/v1/auth/wechat", json={"code": f"test:{openid}"})
    me2 = (await api.as_token(second.json()["access_token"]).get("/api/v1/me")).json()
    assert me2["id"] == me1["id"]


async def test_wechat_bad_code_is_refused(client):
    r = await client.post("/api/v1/auth/wechat", json={"code": "not-a-test-code"})
    assert_problem(r, 401, "wechat.code_invalid")
    assert_problem(await client.post("/api/v1/auth/wechat", json={}), 422, "validation.missing")


@pytest.mark.parametrize(
    ("errcode", "code", "status"),
    [
        (40029, "wechat.code_invalid", 401),
        (40163, "wechat.code_invalid", 401),
        (45011, "wechat.rate_limited", 429),
        (40226, "wechat.user_blocked", 403),
        (-1, "wechat.unavailable", 503),
        (99999, "wechat.unavailable", 502),
    ],
)
async def test_real_code2session_errors_become_clear_problems(errcode, code, status):
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errcode": errcode, "errmsg": "x"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        provider = RealWeChatProvider("wxapp", "secret", http, "https://wx.example")
        with pytest.raises(AppError) as caught:
            await provider.code_to_session("abc")
    assert (caught.value.code, caught.value.status) == (code, status)


async def test_real_code2session_success_sends_the_right_query():
    seen = {}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.update(request.url.params)
        seen["path"] = request.url.path
        return httpx.Response(200, json={"openid": "o123", "session_key": "sk", "unionid": "u1"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        wx = await RealWeChatProvider(
            "wxapp", "secret", http, "https://wx.example"
        ).code_to_session("c0de")
    assert (wx.openid, wx.session_key, wx.unionid) == ("o123", "sk", "u1")
    assert seen == {
        "appid": "wxapp",
        "secret": "secret",
        "js_code": "c0de",
        "grant_type": "authorization_code",
        "path": "/sns/jscode2session",
    }


async def test_unreachable_wechat_is_a_503():
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as http:
        with pytest.raises(AppError) as caught:
            await RealWeChatProvider("a", "b", http, "https://wx.example").code_to_session("c")
    assert caught.value.status == 503
