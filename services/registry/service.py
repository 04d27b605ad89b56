"""The registry's business rules: the area tree, buildings and households, residents with
their personal data, resident units, and statistics. Authorisation decisions live here;
queries live in ``repository``."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import clock
from services.common.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from services.common.events import emit
from services.common.geo import in_china_box, to_wgs84
from services.common.ids import new_id
from services.common.observability import request_id_var
from services.common.pii import PiiCipher, mask_id_number, mask_phone
from services.common.validators import CitizenId, parse_id_number
from services.registry import counts, repository, rules
from services.registry.models import (
    Area,
    Building,
    BuildingCellMove,
    Household,
    PiiAuditEntry,
    Resident,
    ResidentTag,
    TagDefinition,
    Unit,
    UnitFacility,
    outbox,
)
from services.registry.schemas import (
    AreaCreate,
    AreaPatch,
    BuildingCreate,
    BuildingPatch,
    HouseholdCreate,
    HouseholdPatch,
    MoveOut,
    ResidentCreate,
    ResidentPatch,
    RevealRequest,
    TagCreate,
    UnitCreate,
    UnitPatch,
)

PROFILE_FIELDS = (
    "office_area_m2",
    "service_area_m2",
    "activity_venue_m2",
    "activity_square_m2",
    "full_time_staff",
    "annual_funding_yuan",
)


def today() -> date:
    return clock.today()


def _require_reach(principal: Principal, code: str) -> None:
    """Writing under a code outside the caller's scope: as if it did not exist."""
    if not principal.reaches(code):
        raise NotFound()


# --- areas ---------------------------------------------------------------------------------


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
        _require_reach(principal, rules.area_prefix(code))
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
    _require_reach(principal, rules.area_prefix(code))
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(area, name, value)
    await session.flush()
    return area


async def area_stats(*, session: AsyncSession, principal: Principal, code: str) -> dict[str, Any]:
    area = await get_area(session=session, principal=principal, code=code)
    _require_reach(principal, rules.area_prefix(code))
    prefix = rules.area_prefix(code)
    stats = await repository.population_stats(
        session, prefix, len(prefix), today(), rules.minor_age()
    )
    return _stats_entry(area.code, area.name, area.level, stats.get(prefix))


async def children_stats(
    *, session: AsyncSession, principal: Principal, code: str, level: str | None
) -> dict[str, Any]:
    """The area's figures and each child's (or each area at ``level`` below it) in a
    fixed number of queries, for the volunteer rate and the assessment."""
    area = await get_area(session=session, principal=principal, code=code)
    prefix = rules.area_prefix(code)
    _require_reach(principal, prefix)
    if level:
        children = await repository.areas_at_level_under(session, prefix, level)
    else:
        children = await repository.child_areas(session, code)
    group_len = len(rules.area_prefix(children[0].code)) if children else len(prefix)
    total = await repository.population_stats(
        session, prefix, len(prefix), today(), rules.minor_age()
    )
    grouped = (
        await repository.population_stats(session, prefix, group_len, today(), rules.minor_age())
        if children
        else {}
    )
    return {
        "area": _stats_entry(area.code, area.name, area.level, total.get(prefix))
        | (
            {"profile": {f: getattr(area, f) for f in PROFILE_FIELDS}}
            if area.level == "community"
            else {}
        ),
        # Community rows carry their profile too: the assessment reads both in one call.
        "children": [
            _stats_entry(c.code, c.name, c.level, grouped.get(rules.area_prefix(c.code)))
            | (
                {"profile": {f: getattr(c, f) for f in PROFILE_FIELDS}}
                if c.level == "community"
                else {}
            )
            for c in children
        ],
    }


def _stats_entry(code: str, name: str, level: str, figures: dict | None) -> dict[str, Any]:
    figures = figures or {"by_residence_type": {}, "households": 0, "tags": {}, "minors": 0}
    by_type = {t: figures["by_residence_type"].get(t, 0) for t in rules.RESIDENCE_TYPES}
    return {
        "code": code,
        "name": name,
        "level": level,
        "residents": sum(by_type.values()),
        "by_residence_type": by_type,
        "households": figures["households"],
        "party_members": figures["tags"].get("party_member", 0),
        "minors": figures["minors"],
        "tags": dict(sorted(figures["tags"].items())),
    }


async def community_for_write(
    session: AsyncSession, principal: Principal, code: str, field: str
) -> Area:
    """The community a new record belongs to: it must exist, be a community-level area and
    lie inside the caller's scope."""
    area = await repository.area(session, code)
    if area is None or not principal.reaches(code):
        raise Unprocessable(
            "validation.area_not_found", errors=[FieldError(field, "area_not_found")]
        )
    if area.level != "community":
        raise Unprocessable(
            "validation.not_a_community", errors=[FieldError(field, "not_a_community")]
        )
    return area


# --- buildings and households --------------------------------------------------------------


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
    changes = data.model_dump(exclude_unset=True)
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


async def assign_cells(*, session: AsyncSession, assignments) -> int:
    """Set each building's cell: the current cells read in one query, the changed ones
    written (and their moves recorded for the phones' sync) in one executemany each."""
    wanted = {a.building_id: a.cell_code for a in assignments}
    if not wanted:
        return 0
    current = dict(
        (
            await session.execute(
                select(Building.id, Building.cell_code).where(Building.id.in_(list(wanted)))
            )
        ).all()
    )
    now = clock.now()
    changed = [
        {"b_id": bid, "cell": cell, "now": now, "was": current[bid]}
        for bid, cell in wanted.items()
        if bid in current and current[bid] != cell
    ]
    if changed:
        table = Building.__table__
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(cell_code=bindparam("cell"), updated_at=bindparam("now")),
            changed,
        )
        await record_cell_moves(session, [(c["b_id"], c["was"], c["cell"]) for c in changed], now)
    return len(changed)


async def record_cell_moves(session: AsyncSession, moves, now) -> None:
    """moves: (building id, from cell, to cell)."""
    rows = [
        {"id": new_id(), "building_id": b, "from_cell": old, "to_cell": new, "moved_at": now}
        for b, old, new in moves
        if old != new
    ]
    if rows:
        await session.execute(insert(BuildingCellMove.__table__), rows)


async def locate_cell(peers, lat: float, lng: float) -> str | None:
    """The grid cell containing a point, asked of the grid service; none when it cannot say."""
    try:
        r = await peers.call(
            "grid",
            "GET",
            "/api/v1/grid/locate",
            params={"lat": lat, "lng": lng},
            service_permissions=["grid:read"],
        )
    except Exception:  # the grid being down must not stop a building being registered
        return None
    return r.json().get("code") if r.status_code == 200 else None


async def create_household(
    *, session: AsyncSession, principal: Principal, data: HouseholdCreate
) -> Household:
    building = await repository.building(session, principal, data.building_id)
    if building is None:
        raise Unprocessable("validation.not_found", errors=[FieldError("building_id", "not_found")])
    household = Household(
        community_code=building.community_code,
        building_id=building.id,
        door_no=data.door_no,
        head_name=data.head_name,
    )
    session.add(household)
    await session.flush()
    await counts.add(session, Counter({counts.household_key(household.community_code): 1}))
    return household


async def get_household(
    *, session: AsyncSession, principal: Principal, household_id: str
) -> Household:
    household = await repository.household(session, principal, household_id)
    if household is None:
        raise NotFound()
    return household


async def patch_household(
    *, session: AsyncSession, principal: Principal, household_id: str, data: HouseholdPatch
) -> Household:
    household = await get_household(session=session, principal=principal, household_id=household_id)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(household, name, value)
    await session.flush()
    return household


# --- residents -----------------------------------------------------------------------------


async def _check_tags(session: AsyncSession, tags: list[str]) -> list[str]:
    tags = list(dict.fromkeys(tags))
    known = await repository.tag_codes(session)
    unknown = [t for t in tags if t not in known]
    if unknown:
        raise Unprocessable(
            "validation.tag_unknown",
            errors=[FieldError("tags", "tag_unknown", {"tags": ", ".join(unknown)})],
        )
    return tags


def seal_id_number(
    cipher: PiiCipher, citizen: CitizenId, index: str | None = None
) -> dict[str, Any]:
    """The stored columns of an ID number; ``index`` when the caller has it already."""
    return {
        "id_number_enc": cipher.encrypt(citizen.number, "id_number"),
        "id_number_index": index or cipher.blind_index(citizen.number, "id_number"),
        "id_number_masked": mask_id_number(citizen.number),
        "gender": citizen.gender,
        "birth_date": citizen.birth_date,
    }


def seal_phone(cipher: PiiCipher, phone: str | None) -> dict[str, Any]:
    if not phone:
        return {"phone_enc": None, "phone_index": None, "phone_masked": None}
    return {
        "phone_enc": cipher.encrypt(phone, "phone"),
        "phone_index": cipher.blind_index(phone, "phone"),
        "phone_masked": mask_phone(phone),
    }


async def _refuse_duplicate(
    session: AsyncSession, principal: Principal, id_index: str, except_id: str | None = None
) -> None:
    existing = await repository.current_resident_by_index(session, id_index)
    if existing is None or existing.id == except_id:
        return
    # Say where only to someone who may see that record.
    extra = {"existing_id": existing.id} if principal.reaches(existing.community_code) else {}
    raise Conflict(
        "resident.already_registered",
        errors=[FieldError("id_number", "already_registered")],
        extra=extra,
    )


async def _household_for(
    session, principal, household_id: str | None, community_code: str
) -> Household | None:
    if household_id is None:
        return None
    household = await repository.household(session, principal, household_id)
    if household is None or household.community_code != community_code:
        raise Unprocessable(
            "validation.not_found", errors=[FieldError("household_id", "not_found")]
        )
    return household


async def create_resident(
    *, session: AsyncSession, principal: Principal, cipher: PiiCipher, data: ResidentCreate
) -> Resident:
    await community_for_write(session, principal, data.community_code, "community_code")
    citizen = parse_id_number(data.id_number, today())
    tags = await _check_tags(session, data.tags)
    index = cipher.blind_index(citizen.number, "id_number")
    await _refuse_duplicate(session, principal, index)
    household = await _household_for(session, principal, data.household_id, data.community_code)
    resident = Resident(
        community_code=data.community_code,
        household_id=household.id if household else None,
        building_id=household.building_id if household else None,
        name=data.name,
        relation_to_head=data.relation_to_head,
        residence_type=data.residence_type,
        moved_in_on=data.moved_in_on,
        **seal_id_number(cipher, citizen),
        **seal_phone(cipher, data.phone),
    )
    resident.tag_rows = [ResidentTag(tag=t, community_code=data.community_code) for t in tags]
    try:
        async with session.begin_nested():
            session.add(resident)
            await session.flush()
    except IntegrityError:  # registered elsewhere a moment ago
        raise Conflict(
            "resident.already_registered", errors=[FieldError("id_number", "already_registered")]
        ) from None
    await counts.add(
        session,
        Counter(counts.resident_keys(resident.community_code, resident.residence_type, tags)),
    )
    return resident


async def get_resident(
    *, session: AsyncSession, principal: Principal, resident_id: str
) -> Resident:
    resident = await repository.resident(session, principal, resident_id)
    if resident is None:
        raise NotFound()
    return resident


async def patch_resident(
    *,
    session: AsyncSession,
    principal: Principal,
    cipher: PiiCipher,
    resident_id: str,
    data: ResidentPatch,
) -> Resident:
    resident = await get_resident(session=session, principal=principal, resident_id=resident_id)
    if resident.status != "current":
        raise Conflict("resident.not_current")
    changes = data.model_dump(exclude_unset=True)
    before = counts.resident_keys(
        resident.community_code, resident.residence_type, [t.tag for t in resident.tag_rows]
    )
    if changes.get("id_number"):
        citizen = parse_id_number(changes["id_number"], today())
        index = cipher.blind_index(citizen.number, "id_number")
        await _refuse_duplicate(session, principal, index, except_id=resident.id)
        for name, value in seal_id_number(cipher, citizen).items():
            setattr(resident, name, value)
    if "phone" in changes:
        for name, value in seal_phone(cipher, changes["phone"]).items():
            setattr(resident, name, value)
    if "household_id" in changes:
        household = await _household_for(
            session, principal, changes["household_id"], resident.community_code
        )
        resident.household_id = household.id if household else None
        resident.building_id = household.building_id if household else None
    for name in ("name", "relation_to_head", "residence_type", "moved_in_on"):
        if name in changes and (
            changes[name] is not None or name in ("relation_to_head", "moved_in_on")
        ):
            setattr(resident, name, changes[name])
    if changes.get("tags") is not None:
        tags = await _check_tags(session, changes["tags"])
        resident.tag_rows = [
            ResidentTag(tag=t, community_code=resident.community_code) for t in tags
        ]
    await session.flush()
    after = counts.resident_keys(
        resident.community_code, resident.residence_type, [t.tag for t in resident.tag_rows]
    )
    delta = Counter(after)
    delta.subtract(Counter(before))
    await counts.add(session, delta)
    return resident


async def move_out(
    *, session: AsyncSession, principal: Principal, resident_id: str, data: MoveOut
) -> Resident:
    resident = await get_resident(session=session, principal=principal, resident_id=resident_id)
    if resident.status != "current":
        raise Conflict("resident.not_current")
    gone = counts.resident_keys(
        resident.community_code, resident.residence_type, [t.tag for t in resident.tag_rows]
    )
    resident.status = "moved_out"
    resident.moved_out_on = data.moved_out_on
    resident.move_out_reason = data.reason
    await session.execute(
        update(ResidentTag).where(ResidentTag.resident_id == resident.id).values(current=False)
    )
    await session.flush()
    await counts.add(session, Counter({key: -1 for key in gone}))
    await emit(
        session,
        outbox,
        "resident.moved_out",
        {
            "resident_id": resident.id,
            "community_code": resident.community_code,
            "moved_out_on": data.moved_out_on.isoformat(),
        },
    )
    await session.refresh(resident)
    return resident


async def reveal(
    *,
    session: AsyncSession,
    principal: Principal,
    cipher: PiiCipher,
    resident_id: str,
    data: RevealRequest,
) -> dict[str, Any]:
    """The full ID number or phone, for a caller with ``pii:read`` who says why; the read is
    written to the audit log in the same transaction as the answer."""
    if not principal.has("pii:read"):
        raise Forbidden()
    resident = await get_resident(session=session, principal=principal, resident_id=resident_id)
    out: dict[str, Any] = {"id": resident.id}
    if "id_number" in data.fields:
        out["id_number"] = cipher.decrypt(resident.id_number_enc, "id_number")
    if "phone" in data.fields and resident.phone_enc:
        out["phone"] = cipher.decrypt(resident.phone_enc, "phone")
    session.add(
        PiiAuditEntry(
            actor_id=principal.user_id,
            actor_roles=list(principal.roles),
            subject_type="resident",
            subject_id=resident.id,
            community_code=resident.community_code,
            fields=sorted(data.fields),
            reason=data.reason,
            request_id=request_id_var.get(),
        )
    )
    await session.flush()
    return out


async def create_tag(*, session: AsyncSession, data: TagCreate) -> TagDefinition:
    if await session.get(TagDefinition, data.code) is not None:
        raise Conflict("tag.exists", errors=[FieldError("code", "tag_exists")])
    tag = TagDefinition(code=data.code, name=data.name, builtin=False)
    session.add(tag)
    await session.flush()
    return tag


# --- units ---------------------------------------------------------------------------------


def unit_warnings(unit: Unit) -> list[dict[str, str]]:
    implied = rules.implied_unit_categories(unit.uscc)
    if implied is None or unit.category in implied:
        return []
    from services.common.i18n import FIELD_MESSAGES, message

    return [
        {
            "field": "category",
            "code": "uscc_category_mismatch",
            "message": message(
                "uscc_category_mismatch", catalog=FIELD_MESSAGES, implied="/".join(sorted(implied))
            ),
        }
    ]


async def create_unit(
    *, session: AsyncSession, principal: Principal, cipher: PiiCipher, data: UnitCreate
) -> Unit:
    await community_for_write(session, principal, data.community_code, "community_code")
    if await repository.unit_by_uscc(session, data.uscc) is not None:
        raise Conflict("unit.exists", errors=[FieldError("uscc", "unit_exists")])
    unit = Unit(
        community_code=data.community_code,
        name=data.name,
        uscc=data.uscc,
        category=data.category,
        address=data.address,
        contact_name=data.contact_name,
        contact_phone_enc=cipher.encrypt(data.contact_phone, "phone")
        if data.contact_phone
        else None,
        contact_phone_masked=mask_phone(data.contact_phone),
        party_org_name=data.party_org_name,
        party_member_count=data.party_member_count,
    )
    unit.facilities = [UnitFacility(**f.model_dump()) for f in data.facilities]
    try:
        async with session.begin_nested():
            session.add(unit)
            await session.flush()
    except IntegrityError:
        raise Conflict("unit.exists", errors=[FieldError("uscc", "unit_exists")]) from None
    return unit


async def get_unit(*, session: AsyncSession, principal: Principal, unit_id: str) -> Unit:
    unit = await repository.unit(session, principal, unit_id)
    if unit is None:
        raise NotFound()
    return unit


async def patch_unit(
    *, session: AsyncSession, principal: Principal, cipher: PiiCipher, unit_id: str, data: UnitPatch
) -> Unit:
    unit = await get_unit(session=session, principal=principal, unit_id=unit_id)
    if not (principal.has("registry:write") or principal.unit_id == unit.id):
        raise Forbidden()
    changes = data.model_dump(exclude_unset=True)
    if "contact_phone" in changes:
        phone = changes.pop("contact_phone")
        unit.contact_phone_enc = cipher.encrypt(phone, "phone") if phone else None
        unit.contact_phone_masked = mask_phone(phone)
    if "facilities" in changes:
        facilities = changes.pop("facilities") or []
        unit.facilities = [UnitFacility(**f) for f in facilities]
    for name, value in changes.items():
        if value is not None:
            setattr(unit, name, value)
    await session.flush()
    return unit
