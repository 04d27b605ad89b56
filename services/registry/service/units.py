"""Resident units (驻区单位) with their facilities."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import Conflict, FieldError, Forbidden, NotFound
from services.common.pagination import PageParams
from services.common.pii import PiiCipher, mask_phone
from services.registry import repository, rules
from services.registry.models import Unit, UnitFacility
from services.registry.schemas import UnitCreate, UnitPatch
from services.registry.service import history
from services.registry.service.common import area_filter, community_for_write


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
    await history.changed(session, principal, "unit", unit, "created", cipher=cipher)
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
    before = history.snapshot("unit", unit, cipher)
    changes = data.model_dump(exclude_unset=True)
    if "contact_phone" in changes:
        phone = changes.pop("contact_phone")
        unit.contact_phone_enc = cipher.encrypt(phone, "phone") if phone else None
        unit.contact_phone_masked = mask_phone(phone)
    if "facilities" in changes:
        unit.facilities = [UnitFacility(**f) for f in changes.pop("facilities")]
    # What is sent is kept: a null clears a field that may be empty (the schema refuses
    # null for those that may not).
    for name, value in changes.items():
        setattr(unit, name, value)
    await session.flush()
    await history.changed(session, principal, "unit", unit, "updated", before, cipher=cipher)
    return unit


async def list_units(
    *,
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    community: str | None,
    q: str | None,
    category: str | None,
) -> tuple[list[Unit], str | None]:
    return await repository.list_units(
        session, principal, page, community=area_filter(community), q=q, category=category
    )
