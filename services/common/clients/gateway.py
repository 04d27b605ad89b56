"""What services ask of the gateway, which keeps the accounts: who a user is."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.common.clients.base import Endpoint, ErrorMap, PeerClient

SERVICE = "gateway"


class Account(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    username: str | None
    display_name: str
    roles: list[str]


USER = Endpoint(SERVICE, "GET", "/api/v1/users/{user_id}", response=Account)


class GatewayClient(PeerClient):
    service = SERVICE

    async def account(self, *, user_id: str, errors: ErrorMap | None = None) -> Account:
        return await self.call(USER, path={"user_id": user_id}, errors=errors)
