"""The assessment service's sentences, in Chinese and English."""

from services.common import i18n

i18n.register(
    {
        "agreement.not_draft": ("协议已不在待签署状态。", "The agreement is no longer a draft."),
        "agreement.not_active": ("协议不在有效状态。", "The agreement is not in force."),
        "agreement.not_your_unit": (
            "只能以本单位身份签署。",
            "You can sign only for your own unit.",
        ),
        "scores.publish_busy": (
            "同时发布的考核结果过多,请稍后再发布。",
            "Too many publishes of these scores at once; publish again shortly.",
        ),
        "record.reviewed": ("该履约记录已评议。", "The record has been reviewed."),
        "application.open_exists": (
            "该社区本年度已有在办的示范社区申报。",
            "The community has an open application this year.",
        ),
        "application.approved_exists": (
            "该社区本年度的示范社区申报已获批准,无需再次申报。",
            "The community's application for this year is already approved.",
        ),
        "application.wrong_level": (
            "该步骤须由相应层级(街道推荐、区县审批)办理。",
            "This step belongs to another level (street recommends, district approves).",
        ),
        "application.illegal_step": (
            "申请当前为“{state_zh}”,不能“{action_zh}”;现在可以:{allowed_zh}。",
            "Action {action} is not allowed in status {state}; allowed now: {allowed}.",
        ),
        "validation.record_day": (
            "履约日期须在协议期内,且不晚于今天。",
            "A record's day falls inside the agreement's term and not after today.",
        ),
    }
)

i18n.register(
    {
        "outside_term": (
            "日期不在协议期({start} 至 {end})内。",
            "Outside the agreement's term ({start} to {end}).",
        ),
        "in_future": ("日期不能晚于今天({today})。", "Not after today ({today})."),
    },
    field=True,
)
