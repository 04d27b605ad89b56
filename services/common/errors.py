"""Errors are raised, not returned: one ``AppError`` family and one set of handlers that write
RFC 9457 problem+json, so every error a phone sees has the same shape."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common import i18n

log = logging.getLogger("gongjian.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass
class FieldError:
    field: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)
    text: str | None = None  # a ready message, used when the code has no catalog entry

    def as_dict(self) -> dict[str, str]:
        if self.code in i18n.FIELD_MESSAGES or not self.text:
            msg = i18n.message(self.code, catalog=i18n.FIELD_MESSAGES, **self.params)
        elif i18n.current_lang.get() == "en":
            msg = self.text  # pydantic's own sentence, for a type the catalog lacks
        else:
            msg = i18n.message("value_unknown", catalog=i18n.FIELD_MESSAGES)
        return {"field": self.field, "code": self.code, "message": msg}


class AppError(Exception):
    """A failure the caller can understand: a stable ``code``, an HTTP status and a sentence
    from the i18n catalog."""

    status = 400

    def __init__(
        self,
        code: str,
        status: int | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        keep_writes: bool = False,
        **params: Any,
    ) -> None:
        super().__init__(code)
        self.code = code
        # The refusal is itself a fact to keep (a check-out refused 890 m away waits for a
        # person): the request's writes are committed although the answer is an error.
        self.keep_writes = keep_writes
        if status is not None:
            self.status = status
        self.errors = errors or []
        self.headers = headers
        self.extra = extra or {}
        self.params = params


class BadRequest(AppError):
    status = 400


class Unauthorized(AppError):
    status = 401

    def __init__(self, code: str = "auth.required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(code, **kw)


class Forbidden(AppError):
    status = 403

    def __init__(self, code: str = "auth.forbidden", **kw: Any) -> None:
        super().__init__(code, **kw)


class NotFound(AppError):
    """Also what an out-of-scope record answers, so that ids cannot be probed."""

    status = 404

    def __init__(self, code: str = "resource.not_found", **kw: Any) -> None:
        super().__init__(code, **kw)


class Conflict(AppError):
    status = 409


class Gone(AppError):
    status = 410


class Unprocessable(AppError):
    status = 422


class TooManyRequests(AppError):
    status = 429


def field_error(field_name: str, code: str, **params: Any) -> Unprocessable:
    """A 422 naming one field, e.g. ``field_error("id_number", "id_number_invalid", ...)``."""
    return Unprocessable(
        f"validation.{code}", errors=[FieldError(field_name, code, params)], field=field_name
    )


i18n.register({"validation.failed": ("请求参数有误,请检查标出的字段。", "Invalid fields.")})


def problem(
    status: int,
    code: str,
    *,
    detail: str | None = None,
    errors: list[dict] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    **params: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:gongjian:problem:{code}",
        "title": i18n.title(status, code=code),
        "status": status,
        "detail": detail if detail is not None else _detail(code, params),
        "code": code,
        "errors": errors or [],
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _detail(code: str, params: dict[str, Any]) -> str:
    if code not in i18n.MESSAGES and code.startswith("validation."):
        return i18n.message("request.invalid")
    return i18n.message(code, **params)


def _field_path(loc: tuple) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, str) and not _FIELD_NAME.match(p):
            continue  # a union member's tag, e.g. "function-after[...]", not a field
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or str(loc[0] if loc else "body")


# One allowed value in pydantic's "'a', 'b' or 'c'": quoted (a quote may hide a comma or an
# "or") or bare (numbers), then the separator that follows it.
_EXPECTED_ITEM = re.compile(
    r"""\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^,\s]+)\s*(?:,|or(?=\s)|$)"""
)


def _expected_values(expected: str) -> list[str]:
    """The values of pydantic's ``expected`` ("'normal' or 'urgent'"), unquoted; the string
    itself when it is not in that shape."""
    values, pos = [], 0
    while pos < len(expected):
        m = _EXPECTED_ITEM.match(expected, pos)
        if not m or m.end() == pos:
            return [expected]
        item = m.group(1)
        values.append(item[1:-1] if item[:1] in "'\"" and len(item) > 1 else item)
        pos = m.end()
    return values or [expected]


def pydantic_errors_to_fields(errors: list[dict]) -> list[FieldError]:
    result = []
    seen: set[str] = set()
    for err in errors:
        path = _field_path(tuple(err.get("loc", ())))
        if path in seen:  # a union reports once per member; the first says enough
            continue
        seen.add(path)
        etype = err.get("type", "value_error")
        ctx = dict(err.get("ctx") or {})
        if etype == "value_error" and "error" in ctx:
            ctx["error"] = str(ctx["error"]).removeprefix("Value error, ")
        if etype in ("literal_error", "enum") and "expected" in ctx:
            ctx["expected"] = str(ctx["expected"])
            ctx["choices_zh"] = i18n.choices_zh(_expected_values(ctx["expected"]))
        # A value error raised with a catalog code ("area_code_invalid: ...") uses that code.
        if (
            etype == "value_error"
            and str(ctx.get("error", "")).split(":")[0] in i18n.FIELD_MESSAGES
        ):
            code, _, reason = str(ctx["error"]).partition(":")
            etype, ctx = code, {"reason": reason.strip()}
        result.append(FieldError(path, etype, ctx, err.get("msg")))
    return result


async def _app_error_handler(request: Request, exc: AppError) -> JSONResponse:
    return problem(
        exc.status,
        exc.code,
        errors=[e.as_dict() for e in exc.errors],
        headers=exc.headers,
        extra=exc.extra,
        **exc.params,
    )


async def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = pydantic_errors_to_fields(list(exc.errors()))
    if any(f.code == "json_invalid" for f in fields):
        return problem(422, "request.malformed_json", errors=[f.as_dict() for f in fields])
    code = f"validation.{fields[0].code}" if len(fields) == 1 else "validation.failed"
    return problem(
        422, code, detail=i18n.message("request.invalid"), errors=[f.as_dict() for f in fields]
    )


_STATUS_CODES = {
    404: "request.not_found",
    405: "request.method_not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media_type",
}


async def _http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _STATUS_CODES.get(exc.status_code, "request.invalid")
    if exc.status_code >= 500:
        code = "server.error"
    return problem(exc.status_code, code, headers=getattr(exc, "headers", None))


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem(500, "server.error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
