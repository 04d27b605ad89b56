"""The volunteer service's sentences, in Chinese and English."""

from services.common import i18n

i18n.register(
    {
        "volunteer.too_young": (
            "未满 14 周岁不能自行注册志愿者。",
            "Under-14s cannot register themselves.",
        ),
        "volunteer.guardian_required": (
            "14 至 17 周岁注册须填写监护人姓名、电话并取得监护人同意。",
            "From 14 to 17, a guardian's name, phone and consent are required.",
        ),
        "volunteer.already_registered": (
            "该身份证号已注册志愿者,一人只能注册一次。",
            "This ID number is already a registered volunteer.",
        ),
        "volunteer.account_has_volunteer": (
            "该账号已注册志愿者。",
            "This account already has a volunteer record.",
        ),
        "volunteer.not_registered": ("尚未注册志愿者。", "Not registered as a volunteer."),
        "volunteer.not_pending": (
            "该志愿者不在待审核状态。",
            "The volunteer is not pending review.",
        ),
        "volunteer.not_active": (
            "志愿者状态不是有效,暂不能报名。",
            "Only active volunteers can sign up.",
        ),
        "team.invitation_only": (
            "该服务队由社区工作者添加队员,不能自行加入。",
            "Members of this team are added by a community worker.",
        ),
        "volunteer.not_party_member": (
            "只有在职党员需要报到。",
            "Only in-service party members report.",
        ),
        "activity.not_open": ("活动未开放或已结束。", "The activity is not open."),
        "activity.signup_closed": ("报名已截止。", "Sign-up has closed."),
        "activity.not_over": ("活动尚未结束。", "The activity has not ended."),
        "signup.overlaps": (
            "与已报名的活动时间冲突。",
            "It overlaps an activity you signed up for.",
        ),
        "signup.exists": ("已报名该活动。", "Already signed up."),
        "signup.cancel_closed": ("已过取消截止时间。", "The cancellation deadline has passed."),
        "signup.changed": ("报名状态已变化,请刷新。", "The sign-up changed; refresh."),
        "signup.not_confirmed": (
            "没有该活动的确认报名。",
            "No confirmed sign-up for this activity.",
        ),
        "attendance.outside_window": ("不在签到签退时间范围内。", "Outside the check-in window."),
        "attendance.already": ("已签到(签退)。", "Already done."),
        "attendance.not_checked_in": ("尚未签到,不能签退。", "Check in first."),
        "hours.not_pending": ("该记录不在待审核状态。", "The entry is not pending."),
        "hours.same_person": (
            "更正须由录入人以外的工作人员审核。",
            "Another person must approve it.",
        ),
    }
)

i18n.register(
    {
        "too_young": ("未满 {age} 周岁不能自行注册。", "Under {age} cannot register themselves."),
        "guardian_required": ("须填写监护人并取得同意。", "A guardian and consent are required."),
        "end_before_start": ("结束时间须晚于开始时间。", "The end must be after the start."),
    },
    field=True,
)
