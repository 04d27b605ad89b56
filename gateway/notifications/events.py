"""From the services' events to messages: who is told, in a sentence they read as it is.

Each handler takes an event's payload (the service's contract, documented where it is
emitted) and writes the inbox rows; sending to WeChat follows the commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.notifications import repository
from gateway.notifications.service import Message, NotificationSender, notify
from services.common.clock import to_local
from services.common.settings import Settings

Payload = dict[str, Any]
Handler = Callable[[AsyncSession, Payload], Awaitable[None]]

MANAGERS = ("community_admin", "street_admin")
# An application's status → who is told (roles, and the length of their scope code: 9 a
# street, 6 a district, 12 a community), and what the sentence says.
STREET, DISTRICT, COMMUNITY = (9, 9), (1, 6), (12, 12)
APPLICATION_NEXT = {
    "submitted": (("street_admin",), STREET, "待街道推荐"),
    "recommended": (("street_admin", "district_admin"), DISTRICT, "待区县审批"),
    "approved": (("community_admin",), COMMUNITY, "已获批准"),
    "rejected": (("community_admin",), COMMUNITY, "未获通过"),
}


def _day(value: str | None) -> str:
    """A record's day as a sentence writes it: (12月03日)."""
    return f"({date.fromisoformat(value).strftime('%m月%d日')})" if value else ""


def _when(value: str | None) -> str:
    if not value:
        return ""
    return to_local(datetime.fromisoformat(value)).strftime("%m月%d日 %H:%M")


def _hours(value: float | int | str | None) -> str:
    """A number of hours as a sentence writes it: 8, 8.5 (never 8.0)."""
    if value is None:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


# Where the mini-program shows each kind of subject.
PAGES = {
    "volunteer": "/pages/volunteer/review",
    "activity": "/pages/activity/detail",
    "case": "/pages/case/detail",
    "agreement": "/pages/agreement/detail",
    "record": "/pages/agreement/record",
    "application": "/pages/application/detail",
}


def _case(p: Payload) -> str:
    """A case as a message names it: its category and the start of what was reported."""
    return f"{p.get('category_name') or '事件'}:{(p.get('description') or '')[:40]}"


def about(subject_type: str, subject_id: str, *, kind: str, title: str, body: str) -> Message:
    """A message about one record, linked to the page that shows it."""
    return Message(
        kind=kind,
        title=title,
        body=body,
        subject_type=subject_type,
        subject_id=subject_id,
        link=f"{PAGES[subject_type]}?id={subject_id}",
    )


async def _community_first(session: AsyncSession, code: str) -> list[str]:
    """Who is asked to act on a community's work: its own workers; its street office only
    while the community has none (the street sees every community's, and would drown)."""
    users = await repository.staff_reaching(session, code, ("community_admin",))
    return users or await repository.staff_reaching(session, code, ("street_admin",))


async def _volunteer_review(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    """A registration waits for its community's workers, as a case step does; its street
    is asked only when the community has no one to review it yet."""
    users = await _community_first(session, p["community_code"])
    reason = p.get("reason_name") or ""
    return users, about(
        "volunteer",
        p["volunteer_id"],
        kind="volunteer_review",
        title="有志愿者注册待审核",
        body=f"{p['name']}申请注册志愿者" + (f"({reason})" if reason else "") + ",请审核。",
    )


async def _volunteer_reviewed(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    note = f"原因:{p['note']}。" if p.get("note") else ""
    if p["approved"]:
        return [p["user_id"]], about(
            "volunteer",
            p["volunteer_id"],
            kind="volunteer_approved",
            title="志愿者注册已通过审核",
            body="您的志愿者注册已通过审核,可以报名参加活动了。" + note,
        )
    return [p["user_id"]], about(
        "volunteer",
        p["volunteer_id"],
        kind="volunteer_rejected",
        title="志愿者注册未通过审核",
        body="您的志愿者注册未通过审核。" + (note or "如有疑问请联系社区。"),
    )


async def _hours_to_review(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    users = await _community_first(session, p["community_code"])
    return users, about(
        "activity",
        p["activity_id"],
        kind="hours_to_review",
        title="有志愿服务时长待审核",
        body=f"活动“{p['title']}”有 {p['entries']} 条服务时长待审核(签退未通过或未签退)。",
    )


async def _signup_promoted(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    return [p["user_id"]], about(
        "activity",
        p["activity_id"],
        kind="waitlist_promoted",
        title="候补成功,您已报名",
        body=f"您候补的活动“{p['title']}”({_when(p.get('start_at'))})有了名额,已为您报名。",
    )


async def _activity_cancelled(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    return list(p["user_ids"]), about(
        "activity",
        p["activity_id"],
        kind="activity_cancelled",
        title="活动已取消",
        body=f"您报名的活动“{p['title']}”({_when(p.get('start_at'))})已取消。",
    )


async def _activity_changed(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    return list(p["user_ids"]), about(
        "activity",
        p["activity_id"],
        kind="activity_changed",
        title="活动有变更",
        body=f"您报名的活动“{p['title']}”有变更,现为{_when(p.get('start_at'))}开始,请留意。",
    )


async def _case_dispatched(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    users: list[str] = []
    if p.get("unit_id"):
        users += await repository.unit_contacts(session, p["unit_id"])
    if p.get("assignee_id"):
        users.append(p["assignee_id"])
    return users, about(
        "case",
        p["case_id"],
        kind="case_dispatched",
        title="有事件派遣给您",
        body=f"{_case(p)},请于{_when(p.get('deadline_at'))}前处置。",
    )


async def _case_returned(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    """A case the check sent back goes to whoever handles it again: the unit it was
    dispatched to, the worker it was assigned to, and whoever handled it last."""
    users: list[str] = []
    if p.get("unit_id"):
        users += await repository.unit_contacts(session, p["unit_id"])
    users += [p[key] for key in ("assignee_id", "handler_id") if p.get(key)]
    users = [u for u in users if u != p.get("actor_id")]
    note = f"核查意见:{p['note']}。" if p.get("note") else ""
    return users, about(
        "case",
        p["case_id"],
        kind="case_returned",
        title="事件核查未通过,请返工",
        body=f"{_case(p)},"
        f"核查未通过,已退回返工。{note}请于{_when(p.get('deadline_at'))}前重新处置。",
    )


async def _case_due(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    """While a case is being handled, its handler answers for the deadline: the worker or
    the unit it was dispatched to; at every other step, the cell's workers and admins."""
    overdue = p["which"] == "overdue"
    users: list[str] = []
    if p.get("step") == "handle":
        if p.get("assignee_id"):
            users.append(p["assignee_id"])
        if p.get("unit_id"):
            users += await repository.unit_contacts(session, p["unit_id"])
    if not users and p.get("cell_code"):
        users = await repository.staff_reaching(
            session, p["cell_code"], ("grid_worker", "community_admin")
        )
    return users, about(
        "case",
        p["case_id"],
        kind="case_overdue" if overdue else "case_due_soon",
        title="事件已超时" if overdue else "事件即将到期",
        body=f"{p.get('category_name') or '事件'}的办理时限为{_when(p.get('deadline_at'))},"
        + ("已超时,请尽快办理。" if overdue else "即将到期。"),
    )


# A case's status → what the community is asked, or what its reporter is told.
CASE_ASKS = {
    "reported": ("case_reported", "有新上报的事件待立案", "请立案或不予立案"),
    "handled": ("case_to_verify", "事件已处置,待核查", "请核查处置结果"),
    "verified": ("case_to_close", "事件已核查,待结案", "请结案"),
}
CASE_NEWS = {
    "accepted": ("case_accepted", "您上报的事件已立案"),
    "rejected": ("case_rejected", "您上报的事件不予立案"),
    "closed": ("case_closed", "您上报的事件已办结"),
}


async def _case_step(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    """At each step the community's workers are asked for the next one (its street's
    when the community has none); the reporter hears of acceptance, refusal (and why) and
    the end."""
    what = _case(p)
    if p["status"] in CASE_NEWS:
        users = [p["reporter_id"]] if p.get("reporter_id") != p.get("actor_id") else []
        kind, title = CASE_NEWS[p["status"]]
        # A refusal says why, as a rework message carries the verifier's note.
        if p["status"] == "rejected" and p.get("note"):
            what = f"{what}。原因:{p['note']}。"
        return users, about("case", p["case_id"], kind=kind, title=title, body=what)
    kind, title, ask = CASE_ASKS[p["status"]]
    users = await _community_first(session, p["cell_code"])
    # The cell's grid workers who may take the step (verifying: not whoever handled it).
    users += p.get("verifier_ids") or []
    users = [u for u in users if u != p.get("actor_id")]
    return users, about("case", p["case_id"], kind=kind, title=title, body=f"{what}。{ask}。")


async def _extension_requested(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    users = await repository.staff_reaching(session, p["cell_code"], MANAGERS)
    users = [u for u in users if u != p.get("requested_by")]
    return users, about(
        "case",
        p["case_id"],
        kind="extension_requested",
        title="有事件延期申请待审批",
        body=f"{p.get('category_name') or '事件'}申请延期 {_hours(p.get('hours'))} 小时,请审批。",
    )


async def _extension_decided(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    what = _case(p)
    hours = _hours(p.get("hours"))
    note = f"说明:{p['note']}。" if p.get("note") else ""
    deadline = _when(p.get("deadline_at"))
    if p["approved"]:
        return [p["requested_by"]], about(
            "case",
            p["case_id"],
            kind="extension_approved",
            title="延期已批准",
            body=f"{what}。延期 {hours} 小时已批准,请于{deadline}前处置。{note}",
        )
    return [p["requested_by"]], about(
        "case",
        p["case_id"],
        kind="extension_rejected",
        title="延期未获批准",
        body=f"{what}。延期 {hours} 小时未获批准,仍请于{deadline}前处置。{note}",
    )


async def _agreement_to_sign(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    if p["waiting_for"] == "unit":
        users = await repository.unit_contacts(session, p["unit_id"])
    else:
        users = await repository.staff_reaching(session, p["community_code"], MANAGERS)
    return users, about(
        "agreement",
        p["agreement_id"],
        kind="agreement_to_sign",
        title="共建协议待签署",
        body=(
            f"社区拟定的《{p.get('title') or '共驻共建协议'}》待您签署。"
            if p["waiting_for"] == "unit"
            else f"与{p.get('unit_name') or '驻区单位'}的《{p.get('title') or '共驻共建协议'}》"
            "待您签署。"
        ),
    )


async def _record_to_confirm(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    users = await _community_first(session, p["community_code"])
    return users, about(
        "record",
        p["record_id"],
        kind="record_to_confirm",
        title="履约记录待确认",
        body=f"{p.get('unit_name') or '驻区单位'}提交了“{p.get('pledge') or '共建承诺'}”"
        f"{_day(p.get('day'))}的履约记录,请确认。",
    )


async def _record_reviewed(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    users = await repository.unit_contacts(session, p["unit_id"])
    what = f"“{p.get('pledge') or '共建承诺'}”{_day(p.get('day'))}的履约记录"
    note = f"说明:{p['note']}。" if p.get("note") else ""
    return users, about(
        "record",
        p["record_id"],
        kind="record_confirmed" if p["confirmed"] else "record_disputed",
        title="履约记录已确认" if p["confirmed"] else "履约记录有异议",
        body=f"{what}"
        + ("已由社区确认,计入考核。" if p["confirmed"] else "被社区提出异议。")
        + note,
    )


async def _application_step(session: AsyncSession, p: Payload) -> tuple[list[str], Message]:
    roles, lengths, what = APPLICATION_NEXT[p["status"]]
    users = await repository.staff_reaching(
        session, p["community_code"], roles, scope_lengths=lengths
    )
    return users, about(
        "application",
        p["application_id"],
        kind="application_step",
        title=f"示范社区申报{what}",
        body=f"{p.get('community_name') or '社区'}的{p['year']}年示范社区申报{what}。",
    )


ROUTES = {
    "volunteer.review_needed": _volunteer_review,
    "volunteer.reviewed": _volunteer_reviewed,
    "volunteer.hours_to_review": _hours_to_review,
    "volunteer.signup_promoted": _signup_promoted,
    "volunteer.activity_cancelled": _activity_cancelled,
    "volunteer.activity_changed": _activity_changed,
    "grid.case_dispatched": _case_dispatched,
    "grid.case_due": _case_due,
    "grid.case_step": _case_step,
    "grid.case_returned": _case_returned,
    "grid.extension_requested": _extension_requested,
    "grid.extension_decided": _extension_decided,
    "assessment.agreement_to_sign": _agreement_to_sign,
    "assessment.record_to_confirm": _record_to_confirm,
    "assessment.record_reviewed": _record_reviewed,
    "assessment.application_step": _application_step,
}


# The services whose changes settle what their messages asked for.
SETTLING = ("volunteer", "grid", "assessment")


async def _settled(session: AsyncSession, p: Payload) -> None:
    await repository.settle(
        session, p["subject_type"], p["subject_id"], p["kinds"], datetime.fromisoformat(p["at"])
    )


def handlers(settings: Settings, sender: NotificationSender | None) -> dict[str, Handler]:
    """The gateway's consumer handler for each topic that tells someone something, and for
    each that says a message's matter is done."""

    def handler(route) -> Handler:
        async def handle(session: AsyncSession, payload: Payload) -> None:
            users, message = await route(session, payload)
            await notify(session, settings=settings, sender=sender, user_ids=users, message=message)

        return handle

    table = {topic: handler(route) for topic, route in ROUTES.items()}
    table.update({f"{service}.notices_settled": _settled for service in SETTLING})
    return table
