"""What other services ask of the grid: which cell holds a point, and case figures."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.common.clients.base import Endpoint, ErrorMap, PeerClient

SERVICE = "grid"


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CellAt(_In):
    code: str
    community_code: str


class CaseFigures(_In):
    code: str
    cases: int
    closed: int
    on_time_close_rate: float | None
    overdue: int


class CaseKpis(_In):
    rows: list[CaseFigures]


LOCATE = Endpoint(
    SERVICE,
    "GET",
    "/api/v1/grid/locate",
    query=("lat", "lng", "coord_system"),
    response=CellAt,
    permissions=("grid:read",),
)
CASE_KPIS = Endpoint(
    SERVICE,
    "GET",
    "/api/v1/grid/cases/kpis",
    query=("area", "period", "group_by"),
    response=CaseKpis,
    permissions=("grid:read",),
)


class GridClient(PeerClient):
    service = SERVICE

    async def cell_at(self, *, lat: float, lng: float) -> str | None:
        """The code of the cell holding a WGS-84 point; None where no cell is drawn."""
        try:
            found = await self.call(
                LOCATE, params={"lat": lat, "lng": lng}, errors={404: _NoCell, 422: _NoCell}
            )
        except _NoCell:
            return None
        return found.code

    async def case_kpis(
        self, *, area: str, period: str, group_by: str, errors: ErrorMap | None = None
    ) -> list[CaseFigures]:
        result = await self.call(
            CASE_KPIS,
            params={"area": area, "period": period, "group_by": group_by},
            errors=errors,
        )
        return result.rows


class _NoCell(Exception):
    """No cell there (404), or a point the grid will not place (outside China)."""
