"""Subscribe messages 订阅消息: how a notification reaches a phone outside the app.

``RealSubscribeProvider`` calls WeChat's ``subscribeMessage.send`` with an access token it
keeps fresh (``stable_token``); ``FakeSubscribeProvider`` (development and tests) keeps what
it was given and can be told to fail. Either raises ``DeliveryError`` saying whether trying
again may help.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from services.common.clock import clock
from services.common.settings import Settings

log = logging.getLogger("gongjian.notifications")


@dataclass(frozen=True)
class SubscribeMessage:
    openid: str
    template_id: str
    page: str | None
    data: dict[str, dict[str, str]]


class DeliveryError(Exception):
    def __init__(self, reason: str, *, retry: bool, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.refused = refused


class SubscribeProvider(Protocol):
    async def send(self, message: SubscribeMessage) -> None: ...


@dataclass
class FakeSubscribeProvider:
    sent: list[SubscribeMessage] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # errcodes to answer first, in order

    async def send(self, message: SubscribeMessage) -> None:
        if self.failures:
            raise_for_errcode(self.failures.pop(0), "fake failure")
        self.sent.append(message)


# subscribeMessage.send errcodes: the user took back or never gave consent (no retry, no
# credit left); WeChat busy or rate limited (retry later); the rest is ours to fix.
REFUSED = {43101}
RETRY = {-1, 43108, 45009, 45011}
TOKEN_EXPIRED = {40001, 40014, 42001}


def raise_for_errcode(errcode: int, errmsg: str) -> None:
    reason = f"errcode {errcode}: {errmsg}"[:255]
    if errcode in REFUSED:
        raise DeliveryError(reason, retry=False, refused=True)
    raise DeliveryError(reason, retry=errcode in RETRY or errcode in TOKEN_EXPIRED)


class RealSubscribeProvider:
    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client
        self.base_url = settings.wechat_api_base.rstrip("/")
        self._token: str | None = None
        self._token_until = 0.0

    async def _access_token(self, *, fresh: bool = False) -> str:
        now = clock.now().timestamp()
        if self._token and not fresh and now < self._token_until:
            return self._token
        data = await self._post(
            "/cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self.settings.wechat_app_id,
                "secret": self.settings.wechat_app_secret,
                "force_refresh": fresh,
            },
        )
        errcode = int(data.get("errcode") or 0)
        if errcode or not data.get("access_token"):
            raise_for_errcode(errcode or -1, str(data.get("errmsg", "no access_token")))
        self._token = data["access_token"]
        # Renew five minutes early: a token that expires mid-send costs a retry.
        self._token_until = now + max(60, int(data.get("expires_in", 7200)) - 300)
        return self._token

    async def _post(self, path: str, *, json: dict, params: dict | None = None) -> dict:
        try:
            response = await self.client.post(
                f"{self.base_url}{path}", json=json, params=params, timeout=5.0
            )
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DeliveryError(f"WeChat unreachable: {type(exc).__name__}", retry=True) from None

    async def send(self, message: SubscribeMessage) -> None:
        body = {
            "touser": message.openid,
            "template_id": message.template_id,
            "page": message.page,
            "data": message.data,
            "miniprogram_state": self.settings.wechat_miniprogram_state,
            "lang": "zh_CN",
        }
        for fresh in (False, True):
            token = await self._access_token(fresh=fresh)
            data = await self._post(
                "/cgi-bin/message/subscribe/send", json=body, params={"access_token": token}
            )
            errcode = int(data.get("errcode") or 0)
            if errcode == 0:
                return
            if errcode in TOKEN_EXPIRED and not fresh:
                continue  # the token went stale: once more with a new one
            log.warning("subscribe message refused", extra={"errcode": errcode})
            raise_for_errcode(errcode, str(data.get("errmsg", "")))


def provider_from_settings(settings: Settings, client: httpx.AsyncClient) -> SubscribeProvider:
    if settings.wechat_subscribe_provider == "real":
        return RealSubscribeProvider(settings, client)
    return FakeSubscribeProvider()
