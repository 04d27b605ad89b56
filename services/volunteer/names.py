"""What people read beside the volunteer service's codes: the Chinese names of statuses,
kinds and reasons. The codes stay on the wire for programs; the names are for a phone to
show as they are."""

from __future__ import annotations

# A registration 志愿者注册 (Volunteer.status).
VOLUNTEER_STATUS_NAMES = {
    "active": "有效",
    "pending": "待审核",
    "rejected": "未通过审核",
    "withdrawn": "已退出",
}

# Why a registration waits for a person (Volunteer.review_reason).
REVIEW_REASON_NAMES = {
    "not_in_registry": "未在居民登记中找到",
    "phone_differs": "手机号与登记不一致",
}

# A sign-up 报名 (Signup.status).
SIGNUP_STATUS_NAMES = {
    "confirmed": "已确认",
    "waitlisted": "候补中",
    "cancelled": "已取消",
    "no_show": "未到场",
}

# Why an attendance waits for a worker (Signup.review_reason).
SIGNUP_REVIEW_REASON_NAMES = {
    "check_out_outside_window": "签退时不在签退时间内",
    "check_out_outside_geofence": "签退时不在活动范围内",
    "check_out_token_expired": "签退二维码已过期",
    "check_out_token_invalid": "签退二维码无效",
    "no_check_out": "未签退",
}

# An activity 活动 (Activity.status).
ACTIVITY_STATUS_NAMES = {
    "published": "已发布",
    "cancelled": "已取消",
    "finished": "已结束",
}

# A line of the hours ledger 服务时长 (HoursEntry.status and .kind).
HOURS_STATUS_NAMES = {
    "approved": "已通过",
    "pending": "待审核",
    "rejected": "未通过",
}
HOURS_KIND_NAMES = {
    "activity": "活动服务",
    "correction": "更正",
    "back_entry": "补录",
}


# A team 志愿服务队 (Team.kind, the built-in ones; a deployment adds its own) and how one joins.
TEAM_KIND_NAMES = {
    "party_member": "党员志愿服务队",
    "youth": "青年志愿服务队",
    "elderly_care": "为老服务队",
    "patrol": "治安巡逻队",
}
TEAM_JOINING_NAMES = {"open": "自由加入", "invited": "邀请加入"}


# An activity's category (Activity.category) is the organiser's own code, free text of up
# to 32 characters: no fixed list to name, so it is shown as itself (often Chinese already).
ACTIVITY_CATEGORY_NAMES: dict[str, str] = {}


def activity_category_name(code: str) -> str:
    return ACTIVITY_CATEGORY_NAMES.get(code, code)


def name_of(names: dict[str, str], code: str | None) -> str | None:
    """The name of ``code``; a code the table does not name is answered as itself, and no
    code (no review reason) as None."""
    return names.get(code, code) if code else None
