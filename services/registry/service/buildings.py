"""Buildings, with their coordinates and the grid cell that contains them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.grid import GridClient
from services.common.clock import clock
from services.common.errors import Conflict, FieldError, NotFound, Unprocessable
from services.common.geo import in_china_box, to_wgs84
from services.common.ids import new_id
from services.common.pagination import PageParams
from services.registry import repository
from services.registry.models import Building
from services.registry.schemas import BuildingCreate, BuildingPatch
from services.registry.service import history
from services.registry.service.common import area_filter, community_for_write


def _point(lat, lng, system) -> tuple[float | None, float | None]:
    if lat is None and lng is None:
        return None, None
    if lat is None or lng is None:
        raise Unprocessable(
            "validation.missing", errors=[FieldError("lat" if lat is None else "lng", "missing")]
        )
    if not in_china_box(lat, lng):
        raise Unprocessable("validation.outside_china", errors=[FieldError("lat", "outside_china")])
    return to_wgs84(lat, lng, system)


async def create_building(
    *, session: AsyncSession, principal: Principal, data: BuildingCreate, peers=None
) -> Building:
    await community_for_write(session, principal, data.community_code, "community_code")
    lat, lng = _point(data.lat, data.lng, data.coord_system)
    building = Building(
        community_code=data.community_code,
        name=data.name,
        address=data.address,
        floors=data.floors,
        lat=lat,
        lng=lng,
        cell_code=await locate_cell(peers, lat, lng) if lat is not None and peers else None,
    )
    session.add(building)
    await session.flush()
    await history.changed(session, principal, "building", building, "created")
    return building


async def get_building(
    *, session: AsyncSession, principal: Principal, building_id: str
) -> Building:
    building = await repository.building(session, principal, building_id)
    if building is None:
        raise NotFound()
    return building


async def patch_building(
    *,
    session: AsyncSession,
    principal: Principal,
    building_id: str,
    data: BuildingPatch,
    peers=None,
) -> Building:
    """New coordinates place the building again in the cell that contains them, unless the
    patch names the cell itself."""
    building = await get_building(session=session, principal=principal, building_id=building_id)
    before = history.snapshot("building", building)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("cell_code") and not principal.reaches(changes["cell_code"]):
        # A cell out of reach would put the building, and its households, on the phones and
        # in the counts of that cell's grid workers.
        raise Unprocessable("validation.not_found", errors=[FieldError("cell_code", "not_found")])
    if "lat" in changes or "lng" in changes:
        building.lat, building.lng = _point(
            changes.get("lat", building.lat), changes.get("lng", building.lng), data.coord_system
        )
        if "cell_code" not in changes and peers is not None and building.lat is not None:
            changes["cell_code"] = await locate_cell(peers, building.lat, building.lng)
    for name in ("name", "address", "floors"):
        if name in changes:
            setattr(building, name, changes[name])
    if "cell_code" in changes and changes["cell_code"] != building.cell_code:
        await record_cell_moves(
            session, [(building.id, building.cell_code, changes["cell_code"])], clock.now()
        )
        building.cell_code = changes["cell_code"]
    await session.flush()
    await history.changed(session, principal, "building", building, "updated", before)
    return building


async def delete_building(*, session: AsyncSession, principal: Principal, building_id: str) -> None:
    building = await get_building(session=session, principal=principal, building_id=building_id)
    occupied = await repository.list_residents(
        session,
        repository.resident_query(principal, building_id=building.id),
        repository.PageParams(limit=1),
    )
    if occupied[0]:
        raise Conflict("building.has_residents")
    building.deleted_at = clock.now()
    await session.flush()
    await history.changed(session, principal, "building", building, "deleted", deleted=True)


async def record_cell_moves(session: AsyncSession, moves, now) -> None:
    """moves: (building id, from cell, to cell)."""
    rows = [
        {"id": new_id(), "building_id": b, "from_cell": old, "to_cell": new, "moved_at": now}
        for b, old, new in moves
        if old != new
    ]
    if rows:
        await repository.add_cell_moves(session, rows)


async def locate_cell(peers, lat: float, lng: float) -> str | None:
    """The grid cell containing a point, asked of the grid service (none where no cell is
    drawn). The grid being down is a 503 for the caller to retry, not a building silently
    left out of every grid worker's phone."""
    return await GridClient(peers).cell_at(lat=lat, lng=lng)


async def list_buildings(
    *,
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    community: str | None,
    cell: str | None,
    q: str | None,
) -> tuple[list[Building], str | None]:
    return await repository.list_buildings(
        session, principal, page, community=area_filter(community), cell=cell, q=q
    )
