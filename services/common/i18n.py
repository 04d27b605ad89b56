"""Bilingual messages. Chinese is the default (the people reading them are grid workers and
community staff); ``Accept-Language: en`` gives English.

Every stable error code used anywhere in the platform has its two sentences here, so a
phone can show ``detail`` as is and a client can switch on ``code``.
"""

from __future__ import annotations

from contextvars import ContextVar

Lang = str  # "zh" or "en"

current_lang: ContextVar[Lang] = ContextVar("current_lang", default="zh")


def negotiate(accept_language: str | None) -> Lang:
    """The first language the client lists that we speak; Chinese otherwise."""
    if not accept_language:
        return "zh"
    ranked = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh") or tag == "*":
            return "zh"
    return "zh"


# code -> (Chinese, English). Templates use str.format with the error's params.
MESSAGES: dict[str, tuple[str, str]] = {
    # generic
    "request.invalid": ("请求参数有误,请检查标出的字段。", "The request has invalid fields."),
    "request.malformed_json": ("请求体不是合法的 JSON。", "The request body is not valid JSON."),
    "request.too_large": (
        "请求体过大,上限为 {limit} 字节。",
        "The request body is too large; the limit is {limit} bytes.",
    ),
    "request.not_found": ("请求的地址不存在。", "No such endpoint."),
    "request.method_not_allowed": ("该地址不支持此请求方法。", "Method not allowed here."),
    "request.rate_limited": (
        "请求过于频繁,请 {retry_after} 秒后再试。",
        "Too many requests; retry in {retry_after} s.",
    ),
    "request.unsupported_media_type": ("不支持的内容类型。", "Unsupported content type."),
    "server.error": ("服务器内部错误,请稍后再试。", "Internal server error; please retry later."),
    "server.unavailable": ("服务暂时不可用。", "The service is not ready."),
    "resource.not_found": ("记录不存在或无权查看。", "Not found, or outside your scope."),
    "pagination.cursor_invalid": ("分页游标无效,请从第一页重新获取。", "Invalid cursor."),
    # idempotency
    "idempotency.key_reused": (
        "该幂等键已用于另一个不同的请求。",
        "This Idempotency-Key was used with a different request.",
    ),
    "idempotency.in_progress": (
        "相同幂等键的请求正在处理中,请稍后重试。",
        "A request with this Idempotency-Key is still being processed.",
    ),
    "idempotency.key_invalid": (
        "幂等键须为 1-255 个可见字符。",
        "Idempotency-Key must be 1-255 visible characters.",
    ),
    # auth
    "auth.required": ("请先登录。", "Authentication required."),
    "auth.token_invalid": ("登录凭证无效,请重新登录。", "Invalid token; log in again."),
    "auth.token_revoked": (
        "登录已失效(已退出或权限已变更),请重新登录。",
        "This login was revoked (logged out or access changed); log in again.",
    ),
    "auth.token_expired": ("登录已过期,请刷新或重新登录。", "Token expired; refresh or log in."),
    "auth.invalid_credentials": (
        "用户名或密码错误,或账号暂时被锁定。",
        "Wrong username or password, or the account is temporarily locked.",
    ),
    "auth.refresh_invalid": ("刷新凭证无效或已过期。", "Invalid or expired refresh token."),
    "auth.refresh_reused": (
        "刷新凭证已被使用过,为安全起见已注销该登录,请重新登录。",
        "This refresh token was already used; the session is revoked, log in again.",
    ),
    "auth.forbidden": ("没有权限执行此操作。", "You do not have permission for this."),
    "auth.out_of_scope": (
        "不能在自己的管辖范围之外操作。",
        "That is outside your scope.",
    ),
    "auth.account_disabled": ("账号已停用。", "The account is disabled."),
    "wechat.code_invalid": (
        "微信登录码无效或已使用,请重新登录。",
        "The WeChat login code is invalid or already used.",
    ),
    "wechat.rate_limited": ("微信登录过于频繁,请稍后再试。", "WeChat login rate limited."),
    "wechat.user_blocked": (
        "微信判定该账号存在风险,暂时无法登录。",
        "WeChat flagged this user as high-risk.",
    ),
    "wechat.unavailable": ("微信服务暂时不可用,请稍后再试。", "WeChat is unavailable."),
    "wechat.not_configured": ("未配置微信小程序登录。", "WeChat login is not configured."),
    # users
    "user.username_taken": ("用户名已被使用。", "That username is taken."),
    "user.role_not_allowed": (
        "不能创建该角色的账号。",
        "You cannot create an account with that role.",
    ),
    # files
    "file.type_unsupported": (
        "只接受 JPEG、PNG 或 PDF 文件(按文件内容识别)。",
        "Only JPEG, PNG or PDF files are accepted (judged by content).",
    ),
    "file.too_large": ("文件超过 {limit} 字节上限。", "The file exceeds {limit} bytes."),
    "file.empty": ("文件为空。", "The file is empty."),
    # upstream
    "upstream.unavailable": (
        "{service} 服务暂时不可用,请稍后再试。",
        "The {service} service is unavailable; retry later.",
    ),
    "upstream.busy": (
        "网关当前繁忙,请求未发往 {service} 服务,请稍后再试。",
        "The gateway is busy; the request was not sent to the {service} service. Retry later.",
    ),
    "upstream.timeout": (
        "{service} 服务未在规定时间内答复。请求可能已经执行:请先查看结果,或用同一个 "
        "Idempotency-Key 重新提交。",
        "The {service} service did not answer in time. The request may have been carried "
        "out: check before retrying, or retry with the same Idempotency-Key.",
    ),
    "upstream.bad_response": (
        "{service} 服务的应答无法识别,请联系管理员。",
        "The {service} service gave an answer that could not be read.",
    ),
}

# Field-level messages, keyed by pydantic error type or our own validator codes.
FIELD_MESSAGES: dict[str, tuple[str, str]] = {
    "missing": ("必填项。", "Field required."),
    "string_type": ("应为文本。", "Must be a string."),
    "int_type": ("应为整数。", "Must be an integer."),
    "int_parsing": ("应为整数。", "Must be an integer."),
    "float_type": ("应为数字。", "Must be a number."),
    "float_parsing": ("应为数字。", "Must be a number."),
    "decimal_parsing": ("应为数字。", "Must be a number."),
    "bool_type": ("应为 true 或 false。", "Must be a boolean."),
    "bool_parsing": ("应为 true 或 false。", "Must be a boolean."),
    "list_type": ("应为数组。", "Must be a list."),
    "dict_type": ("应为对象。", "Must be an object."),
    "model_type": ("应为对象。", "Must be an object."),
    "model_attributes_type": ("应为对象。", "Must be an object."),
    "string_too_short": ("至少 {min_length} 个字符。", "At least {min_length} characters."),
    "string_too_long": ("最多 {max_length} 个字符。", "At most {max_length} characters."),
    "too_short": ("至少 {min_length} 项。", "At least {min_length} items."),
    "too_long": ("最多 {max_length} 项。", "At most {max_length} items."),
    "string_pattern_mismatch": ("格式不正确。", "Wrong format."),
    "greater_than": ("应大于 {gt}。", "Must be greater than {gt}."),
    "greater_than_equal": ("应不小于 {ge}。", "Must be at least {ge}."),
    "less_than": ("应小于 {lt}。", "Must be less than {lt}."),
    "less_than_equal": ("应不大于 {le}。", "Must be at most {le}."),
    # {choices_zh} is pydantic's "'a', 'b' or 'c'" written the Chinese way: a、b、c 之一.
    "literal_error": ("取值应为:{choices_zh}。", "Must be one of: {expected}."),
    "enum": ("取值应为:{choices_zh}。", "Must be one of: {expected}."),
    "date_parsing": ("日期格式应为 YYYY-MM-DD。", "Date must be YYYY-MM-DD."),
    "date_from_datetime_parsing": ("日期格式应为 YYYY-MM-DD。", "Date must be YYYY-MM-DD."),
    "date_type": ("日期格式应为 YYYY-MM-DD。", "Date must be YYYY-MM-DD."),
    "date_from_datetime_inexact": (
        "应为日期(YYYY-MM-DD),不带时间。",
        "A date (YYYY-MM-DD), without a time.",
    ),
    "value_unknown": ("取值无效。", "Invalid value."),
    "day_in_future": ("日期不能晚于今天({today})。", "Not after today ({today})."),
    "time_in_past": ("时间已过({now}),不能再安排。", "That time has passed ({now})."),
    "signup_closes_at_start": (
        "开始时间已过({now}):报名截止默认为开始时间,无人能报名;请设置晚于现在的报名截止时间。",
        "The start has passed ({now}) and sign-up closes at the start unless a later "
        "signup_deadline is set: nobody could sign up.",
    ),
    "datetime_parsing": ("时间格式应为 RFC 3339。", "Time must be RFC 3339."),
    "datetime_from_date_parsing": ("时间格式应为 RFC 3339。", "Time must be RFC 3339."),
    "datetime_type": ("时间格式应为 RFC 3339。", "Time must be RFC 3339."),
    "timezone_aware": ("时间须带时区偏移。", "Time must carry a UTC offset."),
    "extra_forbidden": ("不允许的字段。", "Unknown field."),
    "json_invalid": ("请求体不是合法的 JSON。", "The body is not valid JSON."),
    "value_error": ("取值无效:{error}", "Invalid value: {error}"),
    "uuid_parsing": ("标识格式不正确。", "Malformed id."),
    # our validators
    "id_number_invalid": ("身份证号码无效:{reason}。", "Invalid citizen ID number: {reason}."),
    "uscc_invalid": (
        "统一社会信用代码无效:{reason}。",
        "Invalid unified social credit code: {reason}.",
    ),
    "phone_invalid": ("手机号码无效。", "Invalid mobile phone number."),
    "area_code_invalid": (
        "区划代码应为 12 位数字(或其前 2、4、6、9 位)。",
        "An area code is 12 digits (or its first 2, 4, 6 or 9).",
    ),
    "scope_code_invalid": (
        "管辖范围应为区划代码或网格代码。",
        "A scope entry is an area or grid-cell code.",
    ),
    "username_taken": ("用户名已被使用。", "That username is taken."),
    "time_out_of_range": (
        "时间的年份应在 {first}–{last} 之间,请检查手机时间或所填年份。",
        "The year must be between {first} and {last}.",
    ),
    "outside_china": ("坐标不在中国境内,请检查经纬度是否写反。", "The point is outside China."),
    "period_invalid": ("期间无效:{reason}。", "Invalid period: {reason}."),
    "password_weak": ("密码至少 8 位,且不能全为数字。", "Password: 8+ chars, not all digits."),
    "null_not_allowed": ("不能为空值(null);不修改时请省略该字段。", "May be left out, not null."),
    "cursor_invalid": (
        "游标无效,请从第一页重新获取。",
        "Invalid cursor: start from the first page.",
    ),
    "nul_character": ("不能包含空字符(NUL)。", "Must not contain a NUL character."),
    "permission_unknown": ("没有 {permission} 这项权限。", "There is no permission {permission}."),
    "permission_not_grantable": (
        "无权授予 {permission}。",
        "You may not grant {permission} to this role.",
    ),
}


# The title of a problem: its kind, by status, the same for every occurrence (RFC 9457 lets
# it change only to be localised); ``detail`` says what happened this time.
TITLES: dict[int, tuple[str, str]] = {
    400: ("请求有误", "Bad request"),
    401: ("未通过身份验证", "Unauthorized"),
    403: ("没有权限", "Forbidden"),
    404: ("记录不存在或无权查看", "Not found"),
    405: ("不支持的请求方法", "Method not allowed"),
    409: ("与当前状态冲突", "Conflict"),
    412: ("记录已被修改", "Precondition failed"),
    413: ("请求体过大", "Content too large"),
    415: ("不支持的内容类型", "Unsupported media type"),
    422: ("请求数据有误", "Unprocessable content"),
    428: ("缺少前提条件", "Precondition required"),
    429: ("请求过于频繁", "Too many requests"),
    500: ("服务器内部错误", "Internal server error"),
    502: ("上游服务答复无效", "Bad gateway"),
    503: ("服务暂时不可用", "Service unavailable"),
    504: ("上游服务超时", "Gateway timeout"),
}


# Where the status's title would mislead, the code names the kind instead: an address no
# route has is not a record missing or out of scope. Still one title for every occurrence.
CODE_TITLES: dict[str, tuple[str, str]] = {
    "request.not_found": ("地址不存在", "No such endpoint"),
}


def title(status: int, lang: Lang | None = None, code: str | None = None) -> str:
    zh, en = (
        CODE_TITLES.get(code or "")
        or TITLES.get(status)
        or (("请求有误", "Bad request") if status < 500 else TITLES[500])
    )
    return en if (lang or current_lang.get()) == "en" else zh


def message(code: str, lang: Lang | None = None, catalog: dict | None = None, **params) -> str:
    table = MESSAGES if catalog is None else catalog
    pair = table.get(code)
    if pair is None:
        return code
    text = pair[1] if (lang or current_lang.get()) == "en" else pair[0]
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


def choices_zh(values: list[str]) -> str:
    """A list of allowed values as a Chinese sentence says it: ``normal、urgent 之一``."""
    return values[0] if len(values) == 1 else "、".join(values) + " 之一"


def register(messages: dict[str, tuple[str, str]], field: bool = False) -> None:
    """Services add their own codes at import time."""
    (FIELD_MESSAGES if field else MESSAGES).update(messages)
