"""The change history of the assessment service's records: agreements (drafted, signed,
terminated), fulfilment records (submitted, confirmed or disputed) and model-community
applications (each step beside its ``ApplicationEvent``), read under the record's scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.assessment import repository, rules
from services.assessment.models import change_history
from services.common.auth import Principal
from services.common.errors import NotFound
from services.common.history import HistoryLabels, named, record_change
from services.common.pagination import PageParams

FIELDS: dict[str, tuple[str, ...]] = {
    "agreement": (
        "root_id",
        "version",
        "unit_id",
        "unit_name",
        "community_code",
        "title",
        "term_start",
        "term_end",
        "status",
        "unit_signed_by",
        "unit_signed_at",
        "community_signed_by",
        "community_signed_at",
        "terminated_reason",
    ),
    "record": (
        "agreement_id",
        "pledge_id",
        "unit_id",
        "community_code",
        "day",
        "quantity",
        "participants",
        "description",
        "evidence",
        "status",
        "review_note",
        "reviewed_by",
    ),
    "application": ("community_code", "year", "status", "statement", "attachments"),
}


def snapshot(
    record_type: str, record: Any, subjects: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """What a history compares of a record; for a fulfilment record, ``subjects`` (from
    ``record_subjects``) names what it is against, given alike before and after a change."""
    out = {name: getattr(record, name) for name in FIELDS[record_type]}
    if record_type == "record":
        # Who reviewed it by name, the id beside it (as the grid names a case's assignee).
        out["reviewer"] = named(record.reviewed_by_name, record.reviewed_by)
        out.update(subjects or {})
    if record_type == "agreement":
        out["unit_signer"] = named(record.unit_signed_by_name, record.unit_signed_by)
        out["community_signer"] = named(record.community_signed_by_name, record.community_signed_by)
    return out


def record_subjects(agreement: Any, pledge: Any) -> dict[str, str | None]:
    """协议 and 承诺事项 of a fulfilment record as its history reads them: the agreement's
    title and the pledge's area and text (服务联办“每季度开展一次便民服务”), each id beside."""
    area = rules.name_of(rules.CATEGORY_NAMES, pledge.category)
    return {
        "agreement": named(agreement.title, agreement.id),
        "pledge": named(f"{area}“{pledge.description}”", pledge.id),
    }


async def changed(
    session: AsyncSession,
    principal: Principal,
    record_type: str,
    record: Any,
    action: str,
    before: dict[str, Any] | None = None,
    subjects: Mapping[str, str | None] | None = None,
) -> None:
    await record_change(
        session,
        change_history,
        record_type=record_type,
        record_id=record.id,
        area_code=record.community_code,
        principal=principal,
        action=action,
        before=before,
        after=snapshot(record_type, record, subjects),
    )


async def read(
    *,
    session: AsyncSession,
    principal: Principal,
    record_type: str,
    record_id: str,
    page: PageParams,
) -> tuple[list[Any], str | None]:
    if record_type == "agreement":
        found = await repository.agreement(
            session=session, principal=principal, agreement_id=record_id
        )
    elif record_type == "record":
        found = await repository.record(session=session, principal=principal, record_id=record_id)
    else:
        found = await repository.application(
            session=session, principal=principal, application_id=record_id
        )
    if found is None:
        raise NotFound()
    return await repository.history(
        session=session, record_type=record_type, record_id=record_id, page=page
    )


LABELS = HistoryLabels(
    actions={
        "signed": "签署",
        "submitted": "提交",
        "superseded": "被新版本替代",
        "terminated": "终止",
        "confirmed": "确认",
        "disputed": "提出异议",
        **rules.APPLICATION_ACTION_NAMES,
    },
    fields={
        "root_id": "协议编号",
        "version": "版本",
        "unit_id": "单位",
        "unit_name": "单位名称",
        "community_code": "社区",
        "title": "标题",
        "term_start": "起始日期",
        "term_end": "截止日期",
        "status": "状态",
        "unit_signed_by": "单位签署人账号",
        "unit_signer": "单位签署人",
        "unit_signed_at": "单位签署时间",
        "community_signed_by": "社区签署人账号",
        "community_signer": "社区签署人",
        "community_signed_at": "社区签署时间",
        "terminated_reason": "终止原因",
        "agreement_id": "协议编号",
        "agreement": "协议",
        "pledge_id": "承诺事项编号",
        "pledge": "承诺事项",
        "day": "日期",
        "quantity": "数量",
        "participants": "参与人数",
        "description": "说明",
        "evidence": "佐证材料",
        "review_note": "审核意见",
        "reviewed_by": "审核人账号",
        "reviewer": "审核人",
        "year": "年度",
        "statement": "申报说明",
        "attachments": "附件",
    },
    values={
        "agreement.status": rules.AGREEMENT_STATUS_NAMES,
        "record.status": rules.RECORD_STATUS_NAMES,
        "application.status": rules.APPLICATION_STATUS_NAMES,
    },
)
