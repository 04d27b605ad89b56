"""What services ask of the gateway, which keeps the accounts and the uploads: who a user
is, and whose an upload is before a record names it."""

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


class FileIds(BaseModel):
    ids: list[str]


class FileState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    owner_id: str
    attached_area: str | None


class FileStates(BaseModel):
    items: list[FileState]


USER = Endpoint(SERVICE, "GET", "/api/v1/users/{user_id}", response=Account)
FILES = Endpoint(
    SERVICE,
    "POST",
    "/api/v1/files/lookup",
    body=FileIds,
    response=FileStates,
    permissions=("files:lookup",),
)


class GatewayClient(PeerClient):
    service = SERVICE

    async def account(self, *, user_id: str, errors: ErrorMap | None = None) -> Account:
        return await self.call(USER, path={"user_id": user_id}, errors=errors)

    async def files(self, *, ids: list[str]) -> list[FileState]:
        """The uploads among ``ids`` (an id that is none is left out); the service's own
        token, as no account may ask this."""
        answer = await self.call(FILES, body=FileIds(ids=ids))
        return answer.items
