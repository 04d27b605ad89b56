"""Residents with their personal data (sealed on the way in, audited when revealed),
and the tags the services act on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clock import clock
from services.common.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Unprocessable,
    field_error,
)
from services.common.events import emit
from services.common.observability import request_id_var
from services.common.pagination import PageParams
from services.common.pii import PiiCipher
from services.common.validators import parse_id_number
from services.registry import counts, repository, rules
from services.registry.models import (
    Household,
    PiiAuditEntry,
    Resident,
    ResidentTag,
    TagDefinition,
    outbox,
)
from services.registry.personal import seal_id_number, seal_phone
from services.registry.schemas import (
    MoveOut,
    ResidentCreate,
    ResidentPatch,
    RevealRequest,
    TagCreate,
)
from services.registry.service import history
from services.registry.service.common import area_filter, community_for_write, today


def _known_tags(definitions: list[TagDefinition]) -> str:
    return "、".join([d.name for d in definitions] + [rules.FLOATING_TAG[1]])


async def _check_tags(session: AsyncSession, tags: list[str]) -> tuple[list[str], bool]:
    """A resident's tags as a worker names them, by code or by the name the roster uses
    (the import's mapping, ``rules.tag_lookup``): ``(codes, floating)``, floating when
    流动人口 is among them, which is the residence type and not a tag. An unknown one is a
    422 that lists the known ones."""
    definitions = await repository.list_tags(session)
    lookup = rules.tag_lookup((d.code, d.name) for d in definitions)
    codes: list[str] = []
    unknown: list[str] = []
    floating = False
    for tag in tags:
        if tag in rules.FLOATING_NAMES:
            floating = True
        elif tag in lookup:
            codes.append(lookup[tag])
        else:
            unknown.append(tag)
    if unknown:
        raise Unprocessable(
            "validation.tag_unknown",
            errors=[
                FieldError(
                    "tags",
                    "tag_unknown_known",
                    {"tag": "、".join(unknown), "known": _known_tags(definitions)},
                )
            ],
        )
    return list(dict.fromkeys(codes)), floating


def _floating_residence(residence_type: str | None) -> str:
    """The residence type when the tags say 流动人口: floating, unless the worker set
    another in the same request, which is a contradiction to resolve (as in the import)."""
    if residence_type not in (None, rules.FLOATING):
        raise field_error(
            "residence_type",
            "residence_type_not_floating",
            value=rules.residence_type_name(residence_type),
        )
    return rules.FLOATING


async def resolve_tag(session: AsyncSession, tag: str) -> tuple[str | None, bool]:
    """A tag as a worker names it, by code or by the Chinese name the roster uses:
    ``(tag code, False)``, or ``(None, True)`` for floating population. An unknown tag is a
    422 that lists the known ones, not an empty list."""
    if tag in rules.FLOATING_NAMES:
        return None, True
    definitions = await repository.list_tags(session)
    code = rules.tag_lookup((d.code, d.name) for d in definitions).get(tag)
    if code is not None:
        return code, False
    raise Unprocessable(
        "validation.tag_unknown",
        errors=[
            FieldError("tag", "tag_unknown_known", {"tag": tag, "known": _known_tags(definitions)})
        ],
    )


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


def _not_after_today(field: str, day) -> None:
    """A move in or out is recorded once it has happened: a day still to come is refused."""
    if day is not None and day > today():
        raise Unprocessable(
            "validation.in_future",
            errors=[FieldError(field, "day_in_future", {"today": today().isoformat()})],
        )


async def create_resident(
    *, session: AsyncSession, principal: Principal, cipher: PiiCipher, data: ResidentCreate
) -> Resident:
    _not_after_today("moved_in_on", data.moved_in_on)
    await community_for_write(session, principal, data.community_code, "community_code")
    citizen = parse_id_number(data.id_number, today())
    tags, floating = await _check_tags(session, data.tags)
    residence_type = data.residence_type
    if floating:
        explicit = data.residence_type if "residence_type" in data.model_fields_set else None
        residence_type = _floating_residence(explicit)
    index = cipher.blind_index(citizen.number, "id_number")
    await _refuse_duplicate(session, principal, index)
    household = await _household_for(session, principal, data.household_id, data.community_code)
    resident = Resident(
        community_code=data.community_code,
        household_id=household.id if household else None,
        building_id=household.building_id if household else None,
        name=data.name,
        relation_to_head=data.relation_to_head,
        residence_type=residence_type,
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
    await history.changed(session, principal, "resident", resident, "created", cipher=cipher)
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
    _not_after_today("moved_in_on", changes.get("moved_in_on"))
    was = history.snapshot("resident", resident, cipher)
    before = counts.resident_keys(
        resident.community_code, resident.residence_type, [t.tag for t in resident.tag_rows]
    )
    tags = floating = None
    if changes.get("tags") is not None:
        tags, floating = await _check_tags(session, changes["tags"])
        if floating:
            changes["residence_type"] = _floating_residence(changes.get("residence_type"))
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
    if tags is not None and set(tags) != {t.tag for t in resident.tag_rows}:
        resident.tag_rows = [
            ResidentTag(tag=t, community_code=resident.community_code) for t in tags
        ]
        # Tags live in their own rows: the resident's stamp must move for the phones' delta.
        resident.updated_at = clock.now()
    await session.flush()
    after = counts.resident_keys(
        resident.community_code, resident.residence_type, [t.tag for t in resident.tag_rows]
    )
    delta = Counter(after)
    delta.subtract(Counter(before))
    await counts.add(session, delta)
    await history.changed(session, principal, "resident", resident, "updated", was, cipher=cipher)
    return resident


async def move_out(
    *, session: AsyncSession, principal: Principal, resident_id: str, data: MoveOut
) -> Resident:
    resident = await get_resident(session=session, principal=principal, resident_id=resident_id)
    if resident.status != "current":
        raise Conflict("resident.not_current")
    _not_after_today("moved_out_on", data.moved_out_on)
    was = history.snapshot("resident", resident)
    gone = counts.resident_keys(
        resident.community_code, resident.residence_type, [t.tag for t in resident.tag_rows]
    )
    resident.status = "moved_out"
    resident.moved_out_on = data.moved_out_on
    resident.move_out_reason = data.reason
    await repository.retire_tags(session, resident.id)
    await session.flush()
    await counts.add(session, Counter({key: -1 for key in gone}))
    await history.changed(session, principal, "resident", resident, "moved_out", was)
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
    # Floating population's names are taken: they would mean two things.
    if data.code in rules.FLOATING_NAMES or await repository.tag(session, data.code) is not None:
        raise Conflict("tag.exists", errors=[FieldError("code", "tag_exists")])
    if data.name in rules.FLOATING_NAMES:
        raise Conflict("tag.exists", errors=[FieldError("name", "tag_exists")])
    tag = TagDefinition(code=data.code, name=data.name, builtin=False)
    session.add(tag)
    await session.flush()
    return tag


async def list_residents(
    *,
    session: AsyncSession,
    principal: Principal,
    cipher: PiiCipher,
    page: PageParams,
    community: str | None = None,
    q: str | None = None,
    phone: str | None = None,
    id_number: str | None = None,
    tag: str | None = None,
    building_id: str | None = None,
    household_id: str | None = None,
    residence_type: str | None = None,
    status: str = "current",
) -> tuple[list[Resident], str | None]:
    """Residents within the caller's scope; a phone or ID number is found by its blind
    index (exact match), never by decrypting."""
    if tag:
        tag, floating = await resolve_tag(session, tag)
        if floating:
            residence_type = "floating"
    stmt = repository.resident_query(
        principal,
        community=area_filter(community),
        q=q,
        phone_index=cipher.blind_index(phone, "phone") if phone else None,
        id_number_index=cipher.blind_index(id_number, "id_number") if id_number else None,
        tag=tag,
        building_id=building_id,
        household_id=household_id,
        residence_type=residence_type,
        status=None if status == "all" else status,
        names_indexed=bool(q) and await repository.resident_names_indexed(session),
    )
    return await repository.list_residents(session, stmt, page)


async def list_audit(
    *, session: AsyncSession, principal: Principal, page: PageParams, subject_id: str | None
) -> tuple[list[PiiAuditEntry], str | None]:
    """Every unmasked read of personal data inside the caller's scope, newest first."""
    return await repository.list_audit(session, principal, page, subject_id=subject_id)


async def tag_names(*, session: AsyncSession, residents: Iterable[Resident]) -> dict[str, str]:
    """Code → name of the tags these residents carry: the built-in ones from the rules, a
    deployment's own from its tag table (one query, and only when one is carried)."""
    names = rules.builtin_tag_names()
    others = {t.tag for r in residents for t in r.tag_rows} - names.keys()
    if others:
        names |= await repository.tag_names(session, others)
    return names


async def list_tags(*, session: AsyncSession) -> list[TagDefinition]:
    return await repository.list_tags(session)
