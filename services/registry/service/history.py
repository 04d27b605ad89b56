"""The change history of the registry's records: what each write records (the fields of
each kind of record, personal data compared in full and kept masked), and reading one
record's history under the record's own scope rules."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import NotFound
from services.common.history import HistoryLabels, named, record_change
from services.common.pagination import PageParams
from services.common.pii import PiiCipher, mask_id_number, mask_phone
from services.registry import repository
from services.registry.models import change_history
from services.registry.rules import (
    BUILTIN_TAGS,
    GENDERS,
    RESIDENCE_TYPES,
    RESIDENT_STATUSES,
    UNIT_CATEGORIES,
)

PROFILE_FIELDS = (
    "office_area_m2",
    "service_area_m2",
    "activity_venue_m2",
    "activity_square_m2",
    "full_time_staff",
    "annual_funding_yuan",
)

FIELDS: dict[str, tuple[str, ...]] = {
    "area": ("name", "parent_code", *PROFILE_FIELDS),
    "building": ("community_code", "name", "address", "floors", "lat", "lng", "cell_code"),
    "household": ("community_code", "building_id", "door_no", "head_name"),
    "resident": (
        "community_code",
        "name",
        "id_number",
        "phone",
        "household_id",
        "household",
        "building_id",
        "relation_to_head",
        "residence_type",
        "moved_in_on",
        "tags",
        "status",
        "moved_out_on",
        "move_out_reason",
    ),
    "unit": (
        "community_code",
        "name",
        "uscc",
        "category",
        "address",
        "contact_name",
        "contact_phone",
        "party_org_name",
        "party_member_count",
        "facilities",
    ),
}

# Compared on the full value, kept as the mask: no plain text, no ciphertext in a history.
MASKED = {"id_number": mask_id_number, "phone": mask_phone, "contact_phone": mask_phone}

# The sealed column each masked field is read from, and its masked copy.
_SEALED = {
    "id_number": ("id_number_enc", "id_number_masked", "id_number"),
    "phone": ("phone_enc", "phone_masked", "phone"),
    "contact_phone": ("contact_phone_enc", "contact_phone_masked", "phone"),
}


def snapshot(record_type: str, record: Any, cipher: PiiCipher | None = None) -> dict[str, Any]:
    """A record's fields as a history compares them. With ``cipher``, personal data is
    opened to be compared in full (it is masked before it is written); without one, the
    masked copies are compared, which is enough where the write does not touch them. The two
    snapshots of one change must be taken alike."""
    out: dict[str, Any] = {}
    for name in FIELDS[record_type]:
        if name in _SEALED:
            sealed, masked, field = _SEALED[name]
            token = getattr(record, sealed)
            if cipher is not None:
                out[name] = cipher.decrypt(token, field) if token else None
            else:
                out[name] = getattr(record, masked)
        elif name == "household":
            out[name] = None  # named by ``changed``, which may read the database
        elif name == "tags":
            out[name] = [t.tag for t in record.tag_rows]
        elif name == "facilities":
            out[name] = sorted(f.name for f in record.facilities)
        else:
            out[name] = getattr(record, name)
    return out


def _key(record_type: str, record: Any) -> tuple[str, str]:
    """The record's id, and the code its scope is decided by."""
    if record_type == "area":
        return record.code, record.code
    return record.id, record.community_code


async def changed(
    session: AsyncSession,
    principal: Principal,
    record_type: str,
    record: Any,
    action: str,
    before: dict[str, Any] | None = None,
    *,
    cipher: PiiCipher | None = None,
    deleted: bool = False,
) -> None:
    record_id, area_code = _key(record_type, record)
    after = None if deleted else snapshot(record_type, record, cipher)
    if record_type == "resident":
        await name_households(session, [d for d in (before, after) if d is not None])
    await record_change(
        session,
        change_history,
        record_type=record_type,
        record_id=record_id,
        area_code=area_code,
        principal=principal,
        action=action,
        before=before,
        after=after,
        masked_fields=MASKED,
    )


def household_label(household_id: str | None, names: dict[str, str]) -> str | None:
    """The household a resident lives in as a worker knows it, its building and door
    number beside the id: ``6号楼 2单元301 (0191…)``."""
    return named(names.get(household_id), household_id) if household_id else None


async def name_households(session: AsyncSession, snapshots: list[dict[str, Any]]) -> None:
    """Sets ``household`` in residents' snapshots from their ``household_id``: one query
    for all of them, none when no one lives in a household."""
    ids = {s["household_id"] for s in snapshots if s.get("household_id")}
    names = await repository.household_labels(session, ids) if ids else {}
    for s in snapshots:
        s["household"] = household_label(s.get("household_id"), names)


async def _find(session: AsyncSession, principal: Principal, record_type: str, record_id: str):
    if record_type == "area":
        return await repository.area_visible(session, principal, record_id)
    if record_type == "building":
        return await repository.building(session, principal, record_id)
    if record_type == "household":
        return await repository.household(session, principal, record_id)
    if record_type == "resident":
        return await repository.resident(session, principal, record_id)
    return await repository.unit(session, principal, record_id)


async def read(
    *,
    session: AsyncSession,
    principal: Principal,
    record_type: str,
    record_id: str,
    page: PageParams,
) -> tuple[list[Any], str | None]:
    """One record's history, newest first, for whoever may read the record; a deleted
    record's, for whoever reaches where it was."""
    if await _find(session, principal, record_type, record_id) is None:
        where = await repository.deleted_in(session, record_type, record_id)
        if where is None or not principal.reaches(where):
            raise NotFound()
    return await repository.history(session, record_type, record_id, page)


LABELS = HistoryLabels(
    fields={
        "name": "名称",
        "resident.name": "姓名",
        "parent_code": "上级区划",
        "office_area_m2": "办公用房面积(㎡)",
        "service_area_m2": "服务用房面积(㎡)",
        "activity_venue_m2": "活动场所面积(㎡)",
        "activity_square_m2": "活动广场面积(㎡)",
        "full_time_staff": "专职工作人员数",
        "annual_funding_yuan": "年度经费(元)",
        "community_code": "所属社区",
        "address": "地址",
        "floors": "层数",
        "lat": "纬度",
        "lng": "经度",
        "cell_code": "所属网格",
        "building_id": "所在楼栋",
        "door_no": "门牌号",
        "head_name": "户主姓名",
        "id_number": "身份证号",
        "phone": "手机号",
        "household_id": "所在户编号",
        "household": "所在户",
        "relation_to_head": "与户主关系",
        "residence_type": "居住类型",
        "moved_in_on": "迁入日期",
        "tags": "标签",
        "status": "状态",
        "moved_out_on": "迁出日期",
        "move_out_reason": "迁出原因",
        "uscc": "统一社会信用代码",
        "category": "单位类别",
        "contact_name": "联系人",
        "contact_phone": "联系电话",
        "party_org_name": "党组织名称",
        "party_member_count": "党员人数",
        "facilities": "可共享设施",
        "file": "导入文件",
    },
    values={
        "residence_type": RESIDENCE_TYPES,
        "tags": dict(BUILTIN_TAGS),
        "resident.status": RESIDENT_STATUSES,
        "gender": GENDERS,
        "category": UNIT_CATEGORIES,
    },
)
