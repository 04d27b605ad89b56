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
        "volunteer.not_approved": (
            "您的志愿者注册当前为“{state_zh}”,不是审核通过的有效注册,暂不能加入服务队。{next_zh}",
            "Your volunteer registration is {state}, not an approved one, so you cannot "
            "join a team yet. {next_en}",
        ),
        "team.party_team_exists": (
            "本社区已有党员志愿服务队,每个社区只有一支。",
            "The community has its party-member team already; there is one per community.",
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
        "attendance.outside_window": (
            "{action_zh}时间为 {opens} 至 {closes},现在不在此时间内。",
            "The {action_en} window is {opens} to {closes} (local time); it is not open now.",
        ),
        "attendance.outside_geofence": (
            "您距活动地点约 {distance} 米,超出{action_zh}范围({radius} 米),"
            "请到活动地点{action_zh}。",
            "You are about {distance} m from the activity, outside its {radius} m radius; "
            "{action_en} at the place.",
        ),
        "attendance.token_expired": (
            "签到二维码已过期,请扫描组织者当前显示的二维码。",
            "The QR code has expired; scan the one the organiser shows now.",
        ),
        "attendance.token_invalid": (
            "签到二维码无效,请扫描本活动组织者出示的二维码。",
            "The QR code is not this activity's; scan the one its organiser shows.",
        ),
        "activity.capacity_below_confirmed": (
            "名额不能少于已确认报名的 {confirmed} 人。",
            "The capacity cannot be below the {confirmed} confirmed sign-ups.",
        ),
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
        "volunteer_already_registered": (
            "该身份证号已注册志愿者。",
            "This ID number is already a registered volunteer.",
        ),
        "guardian_required": ("须填写监护人并取得同意。", "A guardian and consent are required."),
        "end_before_start": ("结束时间须晚于开始时间。", "The end must be after the start."),
        "outside_geofence": (
            "距活动地点约 {distance} 米,超出 {radius} 米范围。",
            "About {distance} m away, outside the {radius} m radius.",
        ),
        "checkin_token_expired": ("二维码已过期。", "The QR code has expired."),
        "checkin_token_invalid": ("二维码无效。", "Not a valid QR code for this activity."),
        "capacity_below_confirmed": (
            "不能少于已确认的 {confirmed} 人。",
            "Not below the {confirmed} confirmed.",
        ),
        "both_or_neither": ("经纬度须同时填写。", "Give both lat and lng, or neither."),
    },
    field=True,
)
