"""What other services ask of the volunteer service: registration rates toward the 10%
target, and the caller's own volunteer record."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.common.clients.base import Endpoint, ErrorMap, PeerClient

SERVICE = "volunteer"


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RateRow(_In):
    area: str
    residents: int
    volunteers: int
    rate: float | None


class Rates(RateRow):
    children: list[RateRow]


class VolunteerRecord(_In):
    id: str
    number: str
    status: str


REGISTRATION_RATE = Endpoint(
    SERVICE,
    "GET",
    "/api/v1/volunteer/stats/registration-rate",
    query=("area", "level"),
    response=Rates,
    permissions=("volunteer:read",),
)
MY_RECORD = Endpoint(SERVICE, "GET", "/api/v1/volunteer/volunteers/me", response=VolunteerRecord)


class VolunteerClient(PeerClient):
    service = SERVICE

    async def registration_rates(
        self, *, area: str, level: str | None = None, errors: ErrorMap | None = None
    ) -> Rates:
        """The rate of ``area`` and of each child (or of each area at ``level`` below)."""
        return await self.call(
            REGISTRATION_RATE, params={"area": area, "level": level}, errors=errors
        )

    async def my_record(self) -> VolunteerRecord | None:
        """The calling resident's volunteer record (with their own token); None if they
        have not registered."""
        try:
            return await self.call(MY_RECORD, errors={404: _NotRegistered})
        except _NotRegistered:
            return None


class _NotRegistered(Exception):
    pass
