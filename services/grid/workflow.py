"""The case workflow (GB/T 30428's digital urban-management cycle) as a table: which action
moves a case from which status to which. An action not in the table is a 409 that lists the
allowed ones."""

from __future__ import annotations

# action -> (from statuses, to status, the deadline step that starts)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None, str | None]] = {
    "accept": (frozenset({"reported"}), "accepted", "dispatch"),  # 立案
    "reject": (frozenset({"reported"}), "rejected", None),
    "dispatch": (frozenset({"accepted"}), "dispatched", "handle"),  # 派遣
    "handle": (frozenset({"dispatched"}), "handled", "verify"),  # 处置
    "verify": (frozenset({"handled"}), "verified", "close"),  # 核查 (passed)
    "return": (frozenset({"handled", "verified"}), "dispatched", "handle"),  # 返工
    "close": (frozenset({"verified"}), "closed", None),  # 结案
    "request_extension": (frozenset({"dispatched"}), None, None),  # 延期申请
    "approve_extension": (frozenset({"dispatched"}), None, None),
    "reject_extension": (frozenset({"dispatched"}), None, None),
    "evaluate": (frozenset({"closed"}), None, None),  # the reporter's evaluation
}

# What a grid worker reads in a sentence: the Chinese names of statuses and actions.
STATUS_NAMES = {
    "reported": "已上报",
    "accepted": "已立案",
    "rejected": "不予立案",
    "dispatched": "已派遣",
    "handled": "已处置",
    "verified": "已核查",
    "closed": "已结案",
}
ACTION_NAMES = {
    "report": "上报",
    "accept": "立案",
    "reject": "不予立案",
    "dispatch": "派遣",
    "handle": "处置",
    "verify": "核查",
    "return": "返工",
    "close": "结案",
    "request_extension": "申请延期",
    "approve_extension": "批准延期",
    "reject_extension": "驳回延期",
    "evaluate": "评价",
}
# A case's priority (its category's, or urgent when reported so).
PRIORITY_NAMES = {"normal": "一般", "urgent": "紧急"}

# Who takes each step, for the sentence that refuses it to someone else.
STEP_TAKERS = {
    **dict.fromkeys(
        ("accept", "reject", "dispatch", "close", "approve_extension", "reject_extension"),
        ("社区或街道工作人员", "community or street staff"),
    ),
    "handle": ("网格员或承办单位", "the grid worker or unit it was sent to"),
    **dict.fromkeys(
        ("verify", "return"),
        ("网格员或社区、街道工作人员(处置人以外)", "grid workers or community or street staff"),
    ),
    "request_extension": ("办理人", "whoever handles it"),
    "evaluate": ("上报人", "whoever reported it"),
}

OPEN_STATUSES = frozenset({"reported", "accepted", "dispatched", "handled", "verified"})
TERMINAL = frozenset({"rejected", "closed"})

# Deadline steps: what the clock runs for in each status.
STEP_OF_STATUS = {
    "reported": "accept",
    "accepted": "dispatch",
    "dispatched": "handle",
    "handled": "verify",
    "verified": "close",
}


def allowed_actions(status: str, *, extension_pending: bool = False) -> list[str]:
    actions = []
    for action, (sources, _, _) in TRANSITIONS.items():
        if status not in sources:
            continue
        if action in ("approve_extension", "reject_extension") and not extension_pending:
            continue
        if action == "request_extension" and extension_pending:
            continue
        actions.append(action)
    return actions


def next_status(status: str, action: str) -> str | None:
    """The status after ``action`` (unchanged for actions that only record), or None when
    the action is not allowed from ``status``."""
    entry = TRANSITIONS.get(action)
    if entry is None or status not in entry[0]:
        return None
    return entry[1] or status


DUE_REMINDERS = ("case_due_soon", "case_overdue")
# What the community is asked at a step: answered by the next step, whatever it is.
STEP_REQUESTS = ("case_reported", "case_to_verify", "case_to_close")


def notices_settled(action: str, old: str, new: str) -> tuple[str, ...]:
    """The kinds of message about a case that a step answers: a step taken answers the
    reminders of its deadline, handling answers the dispatch and the rework, a decision
    answers the extension request, and the end of the case answers everything."""
    handling = ("case_dispatched", "case_returned")
    if new in TERMINAL:
        return (*handling, "extension_requested", *DUE_REMINDERS, *STEP_REQUESTS)
    kinds: tuple[str, ...] = (*DUE_REMINDERS, *STEP_REQUESTS) if new != old else ()
    if action == "handle":
        kinds += handling
    if action in ("approve_extension", "reject_extension"):
        kinds += ("extension_requested",)
    return kinds
