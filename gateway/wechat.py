"""Mini-program login: trade a ``wx.login()`` code for the user's openid.

``RealWeChatProvider`` calls WeChat's code2Session; ``FakeWeChatProvider`` (development and
tests) accepts ``test:<openid>``. Either way the ``session_key`` stays on the server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

from services.common.errors import AppError
from services.common.settings import Settings

log = logging.getLogger("gongjian.wechat")


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    session_key: str | None
    unionid: str | None = None


class WeChatProvider(Protocol):
    async def code_to_session(self, code: str) -> WeChatSession: ...


class FakeWeChatProvider:
    PREFIX = "test:"

    async def code_to_session(self, code: str) -> WeChatSession:
        openid = code.removeprefix(self.PREFIX)
        if not code.startswith(self.PREFIX) or not (1 <= len(openid) <= 128):
            raise AppError("wechat.code_invalid", 401)
        return WeChatSession(openid=openid, session_key=f"fake-session-key-{openid}")


# WeChat's code2Session errcodes and what the caller is told.
# https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
ERRCODE_TO_PROBLEM: dict[int, tuple[str, int]] = {
    40029: ("wechat.code_invalid", 401),  # invalid code
    40163: ("wechat.code_invalid", 401),  # code already used
    45011: ("wechat.rate_limited", 429),  # API minute-quota reached for this user
    40226: ("wechat.user_blocked", 403),  # high-risk user
    -1: ("wechat.unavailable", 503),  # system busy
}


class RealWeChatProvider:
    def __init__(self, app_id: str, app_secret: str, client: httpx.AsyncClient, base_url: str):
        self.app_id = app_id
        self.app_secret = app_secret
        self.client = client
        self.base_url = base_url.rstrip("/")

    async def code_to_session(self, code: str) -> WeChatSession:
        params = {
            "appid": self.app_id,
            "secret": self.app_secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        try:
            response = await self.client.get(
                f"{self.base_url}/sns/jscode2session", params=params, timeout=5.0
            )
            data = response.json()
        except (httpx.HTTPError, ValueError):
            log.warning("code2Session unreachable or unreadable")
            raise AppError("wechat.unavailable", 503) from None
        errcode = int(data.get("errcode") or 0)
        if errcode:
            code_name, status = ERRCODE_TO_PROBLEM.get(errcode, ("wechat.unavailable", 502))
            log.warning("code2Session refused", extra={"errcode": errcode})
            raise AppError(code_name, status)
        if not data.get("openid"):
            raise AppError("wechat.unavailable", 502)
        return WeChatSession(
            openid=data["openid"], session_key=data.get("session_key"), unionid=data.get("unionid")
        )


def provider_from_settings(settings: Settings, client: httpx.AsyncClient) -> WeChatProvider:
    if settings.wechat_provider == "fake":
        return FakeWeChatProvider()
    if not settings.wechat_app_id or not settings.wechat_app_secret:
        raise AppError("wechat.not_configured", 503)
    return RealWeChatProvider(
        settings.wechat_app_id, settings.wechat_app_secret, client, settings.wechat_api_base
    )
