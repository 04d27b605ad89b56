"""Cases 事件 through the GB/T 30428 workflow, with deadlines in working time, and the
KPIs of a period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.clients.registry import RegistryClient, UnitRef
from services.common.clock import clock, start_of_day
from services.common.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    Unprocessable,
)
from services.common.events import emit, settle_notices, share_files_with_unit
from services.common.geo import distance_m as great_circle
from services.common.geo import in_china_box, to_wgs84
from services.common.ids import new_id
from services.common.settings import Settings
from services.common.uploads import attach_uploads
from services.grid import repository
from services.grid.calendar import WorkCalendar
from services.grid.models import (
    Case,
    CaseCategory,
    CaseEvent,
    Holiday,
    outbox,
)
from services.grid.schemas import (
    CaseCreate,
    TransitionIn,
)
from services.grid.service import history
from services.grid.service.state import GridState, work_calendar
from services.grid.workflow import (
    ACTION_NAMES,
    OPEN_STATUSES,
    STATUS_NAMES,
    STEP_OF_STATUS,
    STEP_TAKERS,
    allowed_actions,
    next_status,
    notices_settled,
)


def step_deadline(
    calendar: WorkCalendar, category: CaseCategory, step: str | None, start: datetime, priority: str
) -> datetime | None:
    if step is None:
        return None
    amount = getattr(category, f"{step}_within")
    if priority == "urgent" and category.priority != "urgent":
        amount = amount / 2  # an urgent report of an ordinary kind: half the time
    if category.deadline_unit == "days":
        return calendar.add_working_days(start, max(1, round(amount)))
    return calendar.add_working_hours(start, amount)


async def report_case(
    *,
    session: AsyncSession,
    principal: Principal,
    state: GridState,
    database,
    peers,
    data: CaseCreate,
) -> tuple[Case, list[tuple[Case, float]]]:
    if data.id and await repository.case_id_taken(session, data.id):
        raise Conflict("case.exists")
    category = await repository.category(session, data.category_code)
    if category is None or not category.active:
        raise Unprocessable(
            "validation.category_unknown", errors=[FieldError("category_code", "category_unknown")]
        )
    if not in_china_box(data.lat, data.lng):
        raise Unprocessable("validation.outside_china", errors=[FieldError("lat", "outside_china")])
    lat, lng = to_wgs84(data.lat, data.lng, data.coord_system)
    index = await state.current(database)
    cell_code = index.locate(lat, lng)
    if cell_code is None:
        raise Unprocessable("case.outside_grid", errors=[FieldError("lat", "outside_grid")])
    if principal.has_role("open311") and not principal.reaches(cell_code):
        # an outside app's key reports in its own area only
        raise Unprocessable("case.outside_grid", errors=[FieldError("lat", "outside_grid")])
    if principal.has_role("open311"):
        source = "open311"
    elif principal.has_role("resident"):
        source = "resident"
    elif data.source:
        source = data.source
    else:
        source = "grid_worker"
    now = clock.now()
    priority = data.priority or category.priority
    case = Case(
        id=data.id or new_id(),
        category_code=category.code,
        description=data.description,
        address=data.address,
        lat=lat,
        lng=lng,
        cell_code=cell_code,
        community_code=index.cell(cell_code).community_code,
        source=source,
        reporter_id=principal.user_id,
        photos=data.photos,
        priority=priority,
        status="reported",
        step="accept",
        deadline_at=step_deadline(state.calendar, category, "accept", now, priority),
        created_at=now,
        updated_at=now,
    )
    duplicates = await possible_duplicates(session, state.settings, category.code, lat, lng, now)
    session.add(case)
    await attach_uploads(
        session=session,
        outbox=outbox,
        peers=peers,
        principal=principal,
        file_ids=data.photos,
        field="photos",
        area=cell_code,
    )
    session.add(
        CaseEvent(
            case_id=case.id,
            action="report",
            from_status=None,
            to_status="reported",
            actor_id=principal.user_id,
            actor_roles=list(principal.roles),
            actor_name=principal.name,
            data={"source": source},
            at=now,
        )
    )
    await session.flush()
    await history.changed(
        session, principal, "case", case, "reported", **history.case_names(case, category, index)
    )
    await _tell(session, case, category, "report", principal)
    return case, duplicates


async def possible_duplicates(
    session, settings: Settings, category: str, lat: float, lng: float, now: datetime
) -> list[tuple[Case, float]]:
    """Open cases of the same category nearby and recent (50 m, 72 h by default): pointed
    out, never blocking (two neighbours may report the same burst pipe)."""
    radius = settings.grid_duplicate_radius_m
    degrees = radius / 111_000 * 1.2
    out = []
    for other in await repository.nearby_open_cases(
        session,
        category,
        lat,
        lng,
        now - timedelta(hours=settings.grid_duplicate_window_h),
        degrees,
    ):
        d = great_circle(lat, lng, other.lat, other.lng)
        if d <= radius:
            out.append((other, round(d, 1)))
    return sorted(out, key=lambda x: x[1])


def may_take(principal: Principal, action: str, case: Case) -> bool:
    """Whether this caller may take this step on this case (the workflow aside)."""
    if action in ("accept", "reject", "dispatch", "close", "approve_extension", "reject_extension"):
        return principal.has("grid:dispatch")
    if action == "handle":
        return principal.has("grid:handle") or (
            principal.unit_id is not None and principal.unit_id == case.dispatched_unit_id
        )
    if action in ("verify", "return"):
        return principal.has("grid:verify")
    if action == "request_extension":
        return (
            principal.has("grid:handle")
            or principal.has("grid:dispatch")
            or (principal.unit_id is not None and principal.unit_id == case.dispatched_unit_id)
        )
    if action == "evaluate":
        return case.reporter_id == principal.user_id
    return False


def my_actions(principal: Principal, case: Case, allowed: list[str]) -> list[str]:
    """Of the steps the case allows, the ones this caller may take: whoever handled a case
    does not check their own work."""
    own_work = case.status == "handled" and case.handler_id == principal.user_id
    return [
        a
        for a in allowed
        if may_take(principal, a, case) and not (own_work and a in ("verify", "return"))
    ]


def actionable_statuses(principal: Principal) -> list[str]:
    """The open statuses at which this caller has a step of their own on a case of their
    cells (a unit's dispatched cases aside: those are its ``assigned`` list)."""
    anyone = Case()
    return sorted(
        status
        for status in OPEN_STATUSES
        if any(
            may_take(principal, action, anyone)
            for pending in (False, True)
            for action in allowed_actions(status, extension_pending=pending)
        )
    )


def step_names(action: str, status: str, allowed: list[str]) -> dict[str, str]:
    """The action, status and what may be done instead, for the sentence: codes for
    English, names for Chinese."""
    return {
        "action": action,
        "state": status,
        "allowed": ", ".join(allowed) or "none (it changed just now: reload it)",
        "action_zh": ACTION_NAMES.get(action, action),
        "state_zh": STATUS_NAMES.get(status, status),
        "allowed_zh": "、".join(ACTION_NAMES.get(a, a) for a in allowed)
        or "无(事件刚被他人办理,请刷新后查看)",
        "who_zh": STEP_TAKERS.get(action, ("", ""))[0],
        "who": STEP_TAKERS.get(action, ("", ""))[1],
    }


async def transition(
    *,
    session: AsyncSession,
    principal: Principal,
    state: GridState,
    database,
    peers,
    token: str | None,
    case_id: str,
    data: TransitionIn,
) -> Case:
    case = await repository.case(session, principal, case_id)
    if case is None:
        raise NotFound()
    action = data.action
    pending = case.extension_hours is not None
    allowed = allowed_actions(case.status, extension_pending=pending)
    if action not in allowed:
        raise Conflict(
            "case.illegal_transition",
            extra={
                "allowed": allowed,
                "allowed_names": [ACTION_NAMES.get(a, a) for a in allowed],
                "current_status": case.status,
            },
            **step_names(action, case.status, allowed),
        )
    if not may_take(principal, action, case):
        raise Forbidden("case.not_your_step", **step_names(action, case.status, allowed))
    # Only one of two racing steps wins: the status must still be what we read.
    if not await repository.claim_case_step(session, case, clock.now()):
        raise Conflict(
            "case.illegal_transition",
            extra={"allowed": [], "allowed_names": [], "current_status": "changed"},
            **step_names(data.action, case.status, []),
        )
    index = await state.current(database)
    category = await repository.category(session, case.category_code)
    names = history.case_names(case, category, index)
    now = clock.now()
    old = case.status
    was = history.snapshot("case", case, **names)
    new = next_status(old, action)
    record: dict[str, Any] = {}
    requested_by: str | None = None
    if action == "verify" and data.passed is False:
        action, new = "return", "dispatched"  # a failed check is rework
    if action == "dispatch":
        if not (data.dispatched_to or data.unit_id or data.assignee_id):
            raise Unprocessable(
                "validation.missing", errors=[FieldError("dispatched_to", "missing")]
            )
        assignee = None
        if data.assignee_id:
            assignee = await repository.cell_member(session, case.cell_code, data.assignee_id)
            if assignee is None:
                raise Unprocessable(
                    "validation.not_a_cell_member",
                    errors=[FieldError("assignee_id", "not_a_cell_member")],
                )
        unit = await _dispatch_unit(peers, token, data.unit_id) if data.unit_id else None
        assignee_name = assignee and (assignee.display_name or assignee.user_id)
        case.dispatched_to = data.dispatched_to or (unit and unit.name) or assignee_name
        case.dispatched_unit_id = data.unit_id
        case.dispatched_unit_name = unit and unit.name
        case.assignee_id = data.assignee_id
        case.assignee_name = assignee_name
        # The unit it goes to sees its photos; sent elsewhere again, that unit no longer does.
        await share_files_with_unit(session, outbox, case.photos, data.unit_id)
        case.dispatched_at = now
        record = {"dispatched_to": case.dispatched_to}
    elif action == "handle":
        if not data.photos:
            # Sent empty or left out alike: the rule is a photo of the result, not the field.
            raise Unprocessable(
                "validation.photos_required", errors=[FieldError("photos", "photos_required")]
            )
        case.handler_id = principal.user_id
        case.handled_at = now
        await attach_uploads(
            session=session,
            outbox=outbox,
            peers=peers,
            principal=principal,
            file_ids=data.photos,
            field="photos",
            area=case.cell_code,
        )
        case.photos = [*case.photos, *data.photos]
        record = {"photos": data.photos}
    elif action == "verify":
        if case.handler_id == principal.user_id:
            raise Forbidden("case.verifier_is_handler")
    elif action == "return":
        if old == "handled" and case.handler_id == principal.user_id:
            raise Forbidden("case.verifier_is_handler")
        case.rework_count += 1
    elif action == "close":
        case.closed_at = now
        case.closed_on_time = case.handled_at is not None and (
            case.handle_deadline_at is None or case.handled_at <= case.handle_deadline_at
        )
    elif action == "request_extension":
        if not data.hours:
            raise Unprocessable("validation.missing", errors=[FieldError("hours", "missing")])
        case.extension_hours = data.hours
        case.extension_requested_by = principal.user_id
        record = {"hours": data.hours}
    elif action in ("approve_extension", "reject_extension"):
        if case.extension_requested_by == principal.user_id:
            raise Forbidden("case.approver_is_requester")
        requested_by = case.extension_requested_by  # told of the decision
        if action == "approve_extension":
            extended = state.calendar.add_working_hours(
                case.deadline_at or now, case.extension_hours
            )
            case.deadline_at = extended
            case.handle_deadline_at = extended
        record = {"hours": case.extension_hours}
        case.extension_hours = None
        case.extension_requested_by = None
    elif action == "evaluate":
        if data.rating is None:
            raise Unprocessable("validation.missing", errors=[FieldError("rating", "missing")])
        case.rating = data.rating
        record = {"rating": data.rating}
    if action in ("dispatch", "handle"):
        # Kept at the step that settles it; sent out again after handling, it is counted
        # from the new dispatch, as it always was.
        case.handling_hours = handling_hours(state.calendar, case)
    if new != old:
        case.status = new
        case.step = STEP_OF_STATUS.get(new)
        deadline = step_deadline(state.calendar, category, case.step, now, case.priority)
        if (
            action == "return"
            and deadline is not None
            and case.handle_deadline_at is not None
            and case.handle_deadline_at > deadline
        ):
            # Rework starts the handling time afresh, but takes back no time already
            # granted: an approved extension's deadline stands when it is the later one.
            deadline = case.handle_deadline_at
        case.deadline_at = deadline
        if case.step == "handle":
            case.handle_deadline_at = case.deadline_at
    case.updated_at = now
    session.add(
        CaseEvent(
            case_id=case.id,
            action=action,
            from_status=old,
            to_status=case.status,
            actor_id=principal.user_id,
            actor_roles=list(principal.roles),
            actor_name=principal.name,
            note=data.note,
            data=record,
            at=now,
        )
    )
    await session.flush()
    await history.changed(session, principal, "case", case, action, was, **names)
    settled = notices_settled(action, old, case.status)
    if settled:
        await settle_notices(session, outbox, "grid", "case", case.id, *settled)
    await _tell(
        session,
        case,
        category,
        action,
        principal,
        note=data.note,
        requested_by=requested_by,
        hours=record.get("hours"),
    )
    return case


async def _dispatch_unit(peers, token: str | None, unit_id: str) -> UnitRef:
    """A stationed unit the caller can see: one that does not exist, or is out of their
    reach, is no place to send a case."""

    def not_found() -> Unprocessable:
        return Unprocessable("validation.not_found", errors=[FieldError("unit_id", "not_found")])

    return await RegistryClient(peers, token=token).unit(
        unit_id=unit_id, errors={404: not_found, 403: not_found}
    )


# The steps whose outcome someone waits for: the community (a case to accept, verify or
# close) or the reporter (accepted, refused, closed).
CASE_STEP_ACTIONS = frozenset({"report", "accept", "reject", "handle", "verify", "close"})


async def _tell(
    session: AsyncSession,
    case: Case,
    category: CaseCategory,
    action: str,
    principal: Principal,
    *,
    note: str | None = None,
    requested_by: str | None = None,
    hours: float | None = None,
) -> None:
    """Who must act now is told (the gateway's inbox): the unit or worker a case is
    dispatched to, and again when it comes back for rework; the admins an extension waits
    for, and its requester once it is decided; the community at each of its steps (to
    accept, to verify, to close), the cell's grid workers too when it is to verify; and the
    one who reported it when it is accepted, refused (with the reason given) or closed."""
    base = {
        "case_id": case.id,
        "cell_code": case.cell_code,
        "category_name": category.name,
        "description": case.description[:80],
        "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None,
    }
    if action in CASE_STEP_ACTIONS:
        step = {
            **base,
            "status": case.status,
            "reporter_id": case.reporter_id,
            "actor_id": principal.user_id,
            # What the worker said with the step: a refusal's reason reaches the reporter.
            "note": note,
        }
        if case.status == "handled":
            # The cell's grid workers verify too (grid:verify), all but whoever handled it.
            members = (await repository.members(session, [case.cell_code]))[case.cell_code]
            step["verifier_ids"] = sorted(
                {m.user_id for m in members if m.user_id != case.handler_id}
            )
        await emit(session, outbox, "grid.case_step", step)
    if action == "dispatch":
        await emit(
            session,
            outbox,
            "grid.case_dispatched",
            {**base, "unit_id": case.dispatched_unit_id, "assignee_id": case.assignee_id},
        )
    elif action == "return":
        await emit(
            session,
            outbox,
            "grid.case_returned",
            {
                **base,
                "unit_id": case.dispatched_unit_id,
                "assignee_id": case.assignee_id,
                "handler_id": case.handler_id,
                "actor_id": principal.user_id,
                "note": note,
                "rework_count": case.rework_count,
            },
        )
    elif action == "request_extension":
        await emit(
            session,
            outbox,
            "grid.extension_requested",
            {**base, "hours": case.extension_hours, "requested_by": principal.user_id},
        )
    elif action in ("approve_extension", "reject_extension") and requested_by:
        await emit(
            session,
            outbox,
            "grid.extension_decided",
            {
                **base,
                "approved": action == "approve_extension",
                "hours": hours,
                "requested_by": requested_by,
                "note": note,
            },
        )


def handling_hours(calendar: WorkCalendar, case: Case) -> float | None:
    """Handling time 处置用时: working hours from dispatch to handling, once both happened."""
    if case.dispatched_at is None or case.handled_at is None:
        return None
    return calendar.working_hours_between(case.dispatched_at, case.handled_at)


async def measure_unmeasured(
    *, database, prefix: str, start: datetime, end: datetime, calendar: WorkCalendar
) -> None:
    """The period's handled cases whose handling time is not kept (rows written by other
    means than the workflow: a load, a repair by hand) get it, in a transaction of its own,
    before the KPIs read them. Asking costs nothing: an index holds only such cases."""
    async with database.transaction(write=False) as session:
        spans = await repository.unmeasured_cases(session, prefix, start, end)
    if not spans:
        return
    hours = calendar.working_hours_many([s[1] for s in spans], [s[2] for s in spans])
    async with database.transaction() as session:
        await repository.keep_handling_hours(session, spans, hours)


async def kpis(
    *,
    session: AsyncSession,
    database,
    prefix: str,
    start: datetime,
    end: datetime,
    group_len: int,
    now: datetime,
    calendar: WorkCalendar,
) -> list[dict]:
    """On-time close rate, median handling time (working hours), rework rate and overdue
    count per group of cells, in one query of the database: each case keeps its handling
    time from the moment it is handled."""
    await measure_unmeasured(
        database=database, prefix=prefix, start=start, end=end, calendar=calendar
    )
    groups = await repository.case_kpis(session, prefix, start, end, group_len, now)
    # Sorted here: the same order whatever the database's collation.
    return [
        {
            "code": group.code,
            "cases": group.cases,
            "closed": group.closed,
            "on_time_close_rate": round(group.on_time / group.closed, 4) if group.closed else None,
            "median_handling_hours": round(group.median, 2) if group.median is not None else None,
            "rework_rate": round(group.reworked / group.closed, 4) if group.closed else None,
            "overdue": group.overdue,
        }
        for group in sorted(groups, key=lambda g: g.code)
    ]


async def set_holidays(*, session: AsyncSession, days) -> None:
    """The deployment's holidays and make-up working days (调休), replaced as a whole. The
    cases handled over a day that changed are measured again on the new calendar: the
    handling time they keep is always what the calendar says of it."""
    before = {h.day: h.working for h in await repository.holidays(session)}
    await repository.replace_holidays(
        session, [Holiday(day=d.day, name=d.name, working=d.working) for d in days]
    )
    after = {d.day: d.working for d in days}
    changed = [day for day in before.keys() | after.keys() if before.get(day) != after.get(day)]
    if not changed:
        return
    since, until = start_of_day(min(changed)), start_of_day(max(changed) + timedelta(days=1))
    spans = await repository.handled_cases_over(session, since, until)
    hours = work_calendar(days).working_hours_many([s[1] for s in spans], [s[2] for s in spans])
    await repository.keep_handling_hours(session, spans, hours)
