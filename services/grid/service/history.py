"""The change history of the grid's records: cells (their members included, by name) and
cases (each workflow step beside its ``CaseEvent``), read under the record's own scope."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import NotFound
from services.common.history import HistoryLabels, named, record_change
from services.common.pagination import PageParams
from services.grid import repository
from services.grid.models import change_history
from services.grid.workflow import ACTION_NAMES, PRIORITY_NAMES, STATUS_NAMES

FIELDS: dict[str, tuple[str, ...]] = {
    "cell": (
        "community_code",
        "name",
        "kind",
        "dedicated_to",
        "household_target",
        "responsible",
        "valid_from",
        "valid_to",
    ),
    "case": (
        "category_code",
        "description",
        "address",
        "cell_code",
        "priority",
        "status",
        "deadline_at",
        "dispatched_to",
        "extension_hours",
        "rating",
    ),
}


def snapshot(record_type: str, record: Any, **extra: Any) -> dict[str, Any]:
    """A record's fields as a history compares them. A cell's boundary is given by its
    bounding box (the polygon itself is in the cell); ``extra`` adds what is not a column
    (a cell's workers and leader, by name)."""
    out = {name: getattr(record, name) for name in FIELDS[record_type]}
    if record_type == "case":
        # Whom it went to by name, the id beside it (who handled it is the step's actor).
        out["unit"] = named(record.dispatched_unit_name, record.dispatched_unit_id)
        out["assignee"] = named(record.assignee_name, record.assignee_id)
    if record_type == "cell":
        out["boundary"] = [
            round(v, 6) if v is not None else None
            for v in (record.min_lat, record.min_lng, record.max_lat, record.max_lng)
        ]
    return {**out, **extra}


def case_names(case: Any, category: Any, index: Any) -> dict[str, Any]:
    """A case's category and cell as its history shows them, by name with the code beside
    (路灯损坏 (03.02), 第一网格 (4101…)): what the grid has at hand, the cell's name from the
    locate index; the code alone when the name is not known."""
    cell = index.cell(case.cell_code) if index is not None and case.cell_code else None
    return {
        "category": named(category.name if category else None, case.category_code),
        "cell": named(cell.name if cell else None, case.cell_code),
    }


def _key(record_type: str, record: Any) -> tuple[str, str]:
    if record_type == "cell":
        return record.code, record.code
    return record.id, record.cell_code or record.community_code or ""


async def changed(
    session: AsyncSession,
    principal: Principal,
    record_type: str,
    record: Any,
    action: str,
    before: dict[str, Any] | None = None,
    *,
    deleted: bool = False,
    **extra: Any,
) -> None:
    record_id, area_code = _key(record_type, record)
    await record_change(
        session,
        change_history,
        record_type=record_type,
        record_id=record_id,
        area_code=area_code,
        principal=principal,
        action=action,
        before=before,
        after=None if deleted else snapshot(record_type, record, **extra),
    )


async def read(
    *,
    session: AsyncSession,
    principal: Principal,
    record_type: str,
    record_id: str,
    page: PageParams,
) -> tuple[list[Any], str | None]:
    """One record's history, newest first, for whoever may read the record (a deleted cell's
    too: it is still found in scope)."""
    if record_type == "cell":
        found = await repository.cell(session, principal, record_id, live=False)
    else:
        found = await repository.case(session, principal, record_id)
    if found is None:
        raise NotFound()
    return await repository.history(session, record_type, record_id, page)


LABELS = HistoryLabels(
    actions={"reported": "上报", **ACTION_NAMES},
    fields={
        "community_code": "所属社区",
        "name": "名称",
        "kind": "网格类型",
        "dedicated_to": "专属对象",
        "household_target": "目标户数",
        "responsible": "责任人",
        "valid_from": "启用日期",
        "valid_to": "停用日期",
        "boundary": "边界范围",
        "workers": "网格员",
        "leader": "网格长",
        "category_code": "事项类别代码",
        "category": "事项类别",
        "description": "描述",
        "address": "地址",
        "cell_code": "所属网格代码",
        "cell": "所属网格",
        "priority": "紧急程度",
        "status": "状态",
        "deadline_at": "办理时限",
        "dispatched_to": "派遣对象",
        "extension_hours": "延期小时数",
        "rating": "评价",
        "unit": "承办单位",
        "assignee": "办理人",
    },
    values={
        "case.status": STATUS_NAMES,
        "priority": PRIORITY_NAMES,
        "kind": {"comprehensive": "综合网格", "dedicated": "专属网格"},
    },
)
