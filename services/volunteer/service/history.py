"""The change history of the volunteer service's records: volunteers (personal data kept
masked), teams (their members) and activities, read under the record's own scope — an
activity's by those who organise it, though a published one is public to join."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import NotFound
from services.common.history import YES_NO, HistoryLabels, named, record_change
from services.common.pagination import PageParams
from services.common.pii import PiiCipher, mask_id_number, mask_phone
from services.volunteer import repository
from services.volunteer.models import change_history
from services.volunteer.names import (
    ACTIVITY_STATUS_NAMES,
    REVIEW_REASON_NAMES,
    TEAM_JOINING_NAMES,
    TEAM_KIND_NAMES,
    VOLUNTEER_STATUS_NAMES,
)

FIELDS: dict[str, tuple[str, ...]] = {
    "volunteer": (
        "community_code",
        "resident_id",
        "resident",
        "name",
        "id_number",
        "phone",
        "skills",
        "availability",
        "in_service_party_member",
        "employer_unit_id",
        "party_reported_on",
        "guardian_name",
        "guardian_consent",
        "status",
        "review_reason",
    ),
    # Its leader and members by name: ``roster``.
    "team": ("community_code", "name", "kind", "joining"),
    "activity": (
        "community_code",
        "team_id",
        "title",
        "category",
        "description",
        "start_at",
        "end_at",
        "address",
        "lat",
        "lng",
        "radius_m",
        "capacity",
        "signup_deadline",
        "cancel_deadline",
        "status",
    ),
}

MASKED = {"id_number": mask_id_number, "phone": mask_phone, "guardian_phone": mask_phone}


def snapshot(
    record_type: str, record: Any, cipher: PiiCipher | None = None, **extra: Any
) -> dict[str, Any]:
    """A record's fields as a history compares them. A volunteer's ID number and phone are
    compared as their masks, unless ``cipher`` opens them (and the guardian's phone, which
    only then is compared); the two snapshots of one change must be taken alike."""
    out: dict[str, Any] = {}
    for name in FIELDS[record_type]:
        if record_type == "volunteer" and name in ("id_number", "phone"):
            if cipher is not None:
                out[name] = cipher.decrypt(getattr(record, f"{name}_enc"), name)
            else:
                out[name] = getattr(record, f"{name}_masked")
        elif record_type == "volunteer" and name == "resident":
            # The registry matched them by this name: the resident's, without asking it.
            out[name] = named(record.name, record.resident_id)
        else:
            out[name] = getattr(record, name)
    if record_type == "volunteer" and cipher is not None:
        token = record.guardian_phone_enc
        out["guardian_phone"] = cipher.decrypt(token, "phone") if token else None
    return {**out, **extra}


async def changed(
    session: AsyncSession,
    principal: Principal,
    record_type: str,
    record: Any,
    action: str,
    before: dict[str, Any] | None = None,
    *,
    cipher: PiiCipher | None = None,
    **extra: Any,
) -> None:
    if not principal.name and principal.kind == "user":
        principal = replace(
            principal, name=await _own_name(session, principal, record_type, record)
        )
    await record_change(
        session,
        change_history,
        record_type=record_type,
        record_id=record.id,
        area_code=record.community_code,
        principal=principal,
        action=action,
        before=before,
        after=snapshot(record_type, record, cipher, **extra),
        masked_fields=MASKED,
    )


async def _own_name(
    session: AsyncSession, principal: Principal, record_type: str, record: Any
) -> str | None:
    """A resident acting for themselves, named by their volunteer record. A WeChat account
    has no name until it registers, and the token it acts with was issued before: the
    gateway names the account after the registration, so only the next login's token
    carries the name (``/me`` shows it at once)."""
    if record_type == "volunteer" and record.user_id == principal.user_id:
        return record.name
    own = await repository.volunteer_of_user(session, principal.user_id)
    return own.name if own is not None else None


async def roster(session: AsyncSession, team: Any) -> dict[str, Any]:
    """A team's leader and members as its history shows them: each by the volunteer's name,
    the volunteer id beside it (as a grid cell's workers are), members in the order of
    their names."""
    people = dict(await repository.team_member_names(session, team.id))
    leader = None
    if team.leader_id:
        name = people.get(team.leader_id)
        if name is None:
            found = await repository.volunteer_row(session, team.leader_id)
            name = found.name if found is not None else None
        leader = named(name, team.leader_id)
    return {
        "leader": leader,
        "members": sorted(named(name, vid) for vid, name in people.items()),
    }


async def read(
    *,
    session: AsyncSession,
    principal: Principal,
    record_type: str,
    record_id: str,
    page: PageParams,
) -> tuple[list[Any], str | None]:
    if record_type == "volunteer":
        found = await repository.volunteer(session, principal, record_id)
    elif record_type == "team":
        found = await repository.team(session, principal, record_id)
    else:
        found = await repository.managed_activity(session, principal, record_id)
    if found is None:
        raise NotFound()
    return await repository.history(session, record_type, record_id, page)


LABELS = HistoryLabels(
    actions={
        "registered": "注册",
        "approved": "审核通过",
        "rejected": "审核未通过",
        "withdrawn": "退出",
        "party_reported": "在职党员报到",
        "joined": "加入",
        "left": "退出队伍",
        "cancelled": "取消",
    },
    fields={
        "community_code": "所属社区",
        "resident_id": "对应居民编号",
        "resident": "对应居民",
        "name": "名称",
        "volunteer.name": "姓名",
        "id_number": "身份证号",
        "phone": "手机号",
        "skills": "技能特长",
        "availability": "可服务时间",
        "in_service_party_member": "在职党员",
        "employer_unit_id": "工作单位",
        "party_reported_on": "报到日期",
        "guardian_name": "监护人",
        "guardian_consent": "监护人同意",
        "status": "状态",
        "review_reason": "待审核原因",
        "kind": "队伍类型",
        "joining": "加入方式",
        "leader": "队长",
        "members": "队员",
        "team_id": "所属队伍",
        "title": "活动名称",
        "category": "活动类别",
        "description": "活动内容",
        "start_at": "开始时间",
        "end_at": "结束时间",
        "address": "地点",
        "lat": "纬度",
        "lng": "经度",
        "radius_m": "签到范围(米)",
        "capacity": "人数上限",
        "signup_deadline": "报名截止",
        "cancel_deadline": "取消截止",
    },
    values={
        "volunteer.status": VOLUNTEER_STATUS_NAMES,
        "activity.status": ACTIVITY_STATUS_NAMES,
        "review_reason": REVIEW_REASON_NAMES,
        "kind": TEAM_KIND_NAMES,
        "joining": TEAM_JOINING_NAMES,
        "in_service_party_member": YES_NO,
        "guardian_consent": YES_NO,
    },
)
