"""What other services ask of the registry: areas and their figures, units, residents to
match, buildings and households, and a grid worker's share of the roster for the phone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, RootModel

from services.common.clients.base import Endpoint, ErrorMap, PeerClient

SERVICE = "registry"


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AreaRef(_In):
    code: str
    name: str
    level: str


class AreaFigures(_In):
    """One area's figures in ``/areas/{code}/children/stats``."""

    code: str
    name: str | None = None
    level: str | None = None
    residents: int
    households: int
    party_members: int
    profile: dict[str, Any] | None = None


class ChildrenFigures(_In):
    area: AreaFigures
    children: list[AreaFigures]


class UnitRef(_In):
    id: str
    name: str
    community_code: str


class ResidentRef(_In):
    id: str
    name: str
    community_code: str
    phone: str | None = None  # masked: whether the registry holds one


class ResidentPage(_In):
    items: list[ResidentRef]
    next_cursor: str | None = None


class BuildingRef(_In):
    id: str
    community_code: str
    lat: float | None
    lng: float | None
    cell_code: str | None


class BuildingPage(_In):
    items: list[BuildingRef]
    next_cursor: str | None = None


class HouseholdRef(_In):
    id: str
    community_code: str
    building_id: str | None


class CellCount(_In):
    cell_code: str
    buildings: int
    households: int
    residents: int


class CellCounts(RootModel[list[CellCount]]):
    pass


class CellAssignment(BaseModel):
    building_id: str
    cell_code: str | None


class CellAssignments(BaseModel):
    assignments: list[CellAssignment]


class AssignmentResult(_In):
    updated: int


class RosterChanges(_In):
    """The rows of a worker's cells changed in a window, passed on to the phone as they are."""

    buildings: list[dict[str, Any]]
    households: list[dict[str, Any]]
    residents: list[dict[str, Any]]
    deleted: dict[str, list[Any]]


AREA = Endpoint(
    SERVICE,
    "GET",
    "/api/v1/registry/areas/{code}",
    response=AreaRef,
    permissions=("registry:read",),
)
CHILDREN_STATS = Endpoint(
    SERVICE,
    "GET",
    "/api/v1/registry/areas/{code}/children/stats",
    query=("level",),
    response=ChildrenFigures,
    permissions=("registry:read",),
)
UNIT = Endpoint(SERVICE, "GET", "/api/v1/registry/units/{unit_id}", response=UnitRef)
RESIDENTS = Endpoint(
    SERVICE,
    "GET",
    "/api/v1/registry/residents",
    query=("id_number", "phone", "community", "limit"),
    response=ResidentPage,
    permissions=("registry:read",),
)
BUILDINGS = Endpoint(
    SERVICE,
    "GET",
    "/api/v1/registry/buildings",
    query=("community", "limit", "cursor"),
    response=BuildingPage,
    permissions=("registry:read",),
)
BUILDING = Endpoint(
    SERVICE, "GET", "/api/v1/registry/buildings/{building_id}", response=BuildingRef
)
HOUSEHOLD = Endpoint(
    SERVICE, "GET", "/api/v1/registry/households/{household_id}", response=HouseholdRef
)
CELL_COUNTS = Endpoint(
    SERVICE, "GET", "/api/v1/registry/cell-counts", query=("cells",), response=CellCounts
)
ASSIGN_CELLS = Endpoint(
    SERVICE,
    "POST",
    "/api/v1/registry/buildings/cell-assignments",
    body=CellAssignments,
    response=AssignmentResult,
    permissions=("registry:assign_cells",),
)
SYNC = Endpoint(
    SERVICE,
    "GET",
    "/api/v1/registry/sync",
    query=("cells", "since", "until", "coord_system"),
    response=RosterChanges,
)


class RegistryClient(PeerClient):
    service = SERVICE

    async def area(self, *, code: str, errors: ErrorMap | None = None) -> AreaRef:
        return await self.call(AREA, path={"code": code}, errors=errors)

    async def children_figures(
        self, *, area: str, level: str | None = None, errors: ErrorMap | None = None
    ) -> ChildrenFigures:
        """The area's figures and its children's (or every area at ``level`` below)."""
        return await self.call(
            CHILDREN_STATS, path={"code": area}, params={"level": level}, errors=errors
        )

    async def unit(self, *, unit_id: str, errors: ErrorMap | None = None) -> UnitRef:
        return await self.call(UNIT, path={"unit_id": unit_id}, errors=errors)

    async def current_residents(
        self, *, id_number: str, community: str, phone: str | None = None
    ) -> list[ResidentRef]:
        """Current residents of ``community`` with this ID number (and this phone, when
        given): exact matches by the registry's blind index."""
        params = {"id_number": id_number, "phone": phone, "community": community, "limit": 100}
        return (await self.call(RESIDENTS, params=params)).items

    async def buildings_page(self, *, community: str, cursor: str | None = None) -> BuildingPage:
        return await self.call(
            BUILDINGS, params={"community": community, "limit": 100, "cursor": cursor}
        )

    async def building(self, *, building_id: str, errors: ErrorMap | None = None) -> BuildingRef:
        return await self.call(BUILDING, path={"building_id": building_id}, errors=errors)

    async def household(self, *, household_id: str, errors: ErrorMap | None = None) -> HouseholdRef:
        return await self.call(HOUSEHOLD, path={"household_id": household_id}, errors=errors)

    async def cell_counts(self, *, cells: list[str]) -> list[CellCount]:
        return (await self.call(CELL_COUNTS, params={"cells": ",".join(cells)})).root

    async def assign_cells(self, *, assignments: list[CellAssignment]) -> int:
        result = await self.call(ASSIGN_CELLS, body=CellAssignments(assignments=assignments))
        return result.updated

    async def roster_changes(
        self,
        *,
        cells: list[str],
        since: datetime | None,
        until: datetime,
        coord_system: str = "wgs84",
    ) -> RosterChanges:
        params = {
            "cells": ",".join(cells),
            "since": since.isoformat() if since else None,
            "until": until.isoformat(),
            "coord_system": coord_system,
        }
        return await self.call(SYNC, params=params)
