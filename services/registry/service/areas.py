"""The area tree: areas down to community, each community with its profile."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from services.common.pagination import PageParams
from services.registry import repository, rules
from services.registry.models import Area
from services.registry.schemas import AreaCreate, AreaPatch
from services.registry.service import history
from services.registry.service.common import area_filter, require_reach

PROFILE_FIELDS = (
    "office_area_m2",
    "service_area_m2",
    "activity_venue_m2",
    "activity_square_m2",
    "full_time_staff",
    "annual_funding_yuan",
)


async def create_area(*, session: AsyncSession, principal: Principal, data: AreaCreate) -> Area:
    code = data.code
    if set(code) == {"0"}:
        raise Unprocessable(
            "validation.area_code_invalid", errors=[FieldError("code", "area_code_invalid")]
        )
    parent = rules.parent_code(code)
    parent_area = await repository.area(session, parent) if parent else None
    if parent_area is None:
        # A root of the tree (a deployment's district or city) is the platform's to create.
        if not principal.unrestricted:
            raise Forbidden("area.root_not_allowed")
    else:
        require_reach(principal, rules.area_prefix(code))
    if await repository.area(session, code) is not None:
        raise Conflict("area.exists", errors=[FieldError("code", "area_exists")])
    area = Area(
        code=code,
        name=data.name,
        level=rules.area_level(code),
        kind=rules.area_kind(code),
        parent_code=parent if parent_area is not None else None,
        **{f: getattr(data, f) for f in PROFILE_FIELDS},
    )
    session.add(area)
    await session.flush()
    await history.changed(session, principal, "area", area, "created")
    return area


async def get_area(*, session: AsyncSession, principal: Principal, code: str) -> Area:
    area = await repository.area_visible(session, principal, code)
    if area is None:
        raise NotFound()
    return area


async def patch_area(
    *, session: AsyncSession, principal: Principal, code: str, data: AreaPatch
) -> Area:
    area = await get_area(session=session, principal=principal, code=code)
    # Seeing an ancestor is not owning it: edits need the area inside the scope.
    require_reach(principal, rules.area_prefix(code))
    before = history.snapshot("area", area)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(area, name, value)
    await session.flush()
    await history.changed(session, principal, "area", area, "updated", before)
    return area


async def list_areas(
    *,
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    parent: str | None,
    level: str | None,
    under: str | None,
) -> tuple[list[Area], str | None]:
    return await repository.list_areas(
        session, principal, page, parent=parent, level=level, under=area_filter(under)
    )


async def list_children(
    *, session: AsyncSession, principal: Principal, code: str, page: PageParams
) -> tuple[list[Area], str | None]:
    await get_area(session=session, principal=principal, code=code)
    return await repository.list_areas(
        session, principal, page, parent=code, level=None, under=None
    )
