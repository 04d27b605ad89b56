"""Household visits 入户走访: whether the phone was inside the cell, and coverage."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.registry import RegistryClient
from services.common.clock import clock
from services.common.errors import (
    Conflict,
    FieldError,
    Unprocessable,
)
from services.common.geo import to_wgs84
from services.common.ids import new_id
from services.common.periods import Period
from services.common.uploads import attach_uploads
from services.grid import repository
from services.grid.geometry import distance_m
from services.grid.models import (
    Cell,
    Visit,
    outbox,
)
from services.grid.schemas import (
    VisitCreate,
)
from services.grid.service.state import GridState


async def create_visit(
    *,
    session: AsyncSession,
    principal: Principal,
    state: GridState,
    database,
    peers,
    token,
    data: VisitCreate,
) -> Visit:
    if data.id and await repository.visit(session, data.id) is not None:
        raise Conflict("visit.exists")
    # A phone's clock may run a little ahead; a visit later than that has not happened.
    latest = clock.now() + timedelta(minutes=state.settings.grid_clock_skew_min)
    if data.visited_at > latest:
        raise Unprocessable(
            "validation.in_future", errors=[FieldError("visited_at", "in_future_time")]
        )
    unknown = set(data.findings) - await repository.finding_codes(session)
    if unknown:
        raise Unprocessable(
            "validation.finding_unknown",
            errors=[
                FieldError("findings", "finding_unknown", {"tags": ", ".join(sorted(unknown))})
            ],
        )
    registry = RegistryClient(peers, token=token)

    def no_household() -> Unprocessable:
        return Unprocessable(
            "validation.not_found", errors=[FieldError("household_id", "not_found")]
        )

    household = await registry.household(
        household_id=data.household_id, errors={404: no_household, 403: no_household}
    )
    cell_code = None
    if household.building_id:
        building = await registry.building(
            building_id=household.building_id, errors={404: no_household, 403: no_household}
        )
        cell_code = building.cell_code
    inside, distance = None, None
    if data.lat is not None and data.lng is not None and cell_code:
        lat, lng = to_wgs84(data.lat, data.lng, data.coord_system)
        geometry = (await state.current(database)).geometry(cell_code)
        if geometry is not None:
            distance = round(distance_m(geometry, lat, lng), 1)
            inside = distance == 0.0
    visit = Visit(
        id=data.id or new_id(),
        cell_code=cell_code,
        community_code=household.community_code,
        household_id=data.household_id,
        building_id=household.building_id,
        worker_id=principal.user_id,
        visited_at=data.visited_at,
        findings=sorted(set(data.findings)),
        note=data.note,
        photos=data.photos,
        inside_cell=inside,
        distance_m=distance,
    )
    session.add(visit)
    await attach_uploads(
        session=session,
        outbox=outbox,
        peers=peers,
        principal=principal,
        file_ids=data.photos,
        field="photos",
        area=cell_code or household.community_code,
    )
    await session.flush()
    return visit


async def coverage(
    *, session: AsyncSession, peers, token, cell: Cell, period: Period, zone: ZoneInfo
) -> dict:
    counts = await RegistryClient(peers, token=token).cell_counts(cells=[cell.code])
    households = next((c.households for c in counts if c.cell_code == cell.code), 0)
    start, end = period.bounds(zone)
    visited = await repository.visited_households(session, cell.code, start, end)
    return {
        "cell_code": cell.code,
        "period": period.label,
        "households": households,
        "visited": visited,
        "coverage": round(visited / households, 4) if households else None,
    }
