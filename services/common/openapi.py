"""What every component's OpenAPI document says about errors: each operation's 4xx (and the
gateway's 5xx for upstreams) are ``application/problem+json`` with one ``Problem`` schema,
so that a client generated from the document handles the errors the API really sends
(FastAPI alone documents 422 as its own ``HTTPValidationError`` and nothing else)."""

from __future__ import annotations

from typing import Any

from services.common.errors import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details, with a stable machine `code` and field errors.",
    "required": ["type", "title", "status", "detail", "code", "errors"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "examples": ["resident.id_number_invalid"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

# What any operation may answer besides its success: bad input, no or a bad token, no
# permission, not found (or outside the caller's scope), a conflict, a body too large, too
# many requests; and, through the gateway, a service down or too slow or answering garbage.
# An operation's own further answers (a 410, a 415) are declared on its route with
# ``responses=`` and get the same problem content here.
ERROR_RESPONSES: dict[str, str] = {
    "400": "Bad request (a malformed cursor, header or parameter)",
    "401": "No valid access token",
    "403": "The role or permission does not allow it",
    "404": "Not found, or outside the caller's scope",
    "409": "Conflicts with the current state",
    "413": "The body is larger than allowed",
    "422": "Invalid fields, named in `errors`",
    "429": "Too many requests",
    "502": "A service answered what it should not (`upstream.bad_response`)",
    "503": "A service is unavailable (`upstream.unavailable`)",
    "504": "A service did not answer in time (`upstream.timeout`)",
}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def document_problems(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the ``Problem`` schema and the error responses to every operation (in place)."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    problem = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for item in doc.get("paths", {}).values():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status[:1] in ("4", "5"):
                    response["content"] = problem
            for status, description in ERROR_RESPONSES.items():
                responses[status] = {"description": description, "content": problem}
    return doc
