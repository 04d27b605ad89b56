"""The merged OpenAPI document tells the truth about errors, so that the mini-program's
generated client handles what the API really answers."""

from __future__ import annotations

from tests.support import assert_problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


async def test_every_operation_documents_its_errors_as_problem_json(client):
    doc = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail", "code", "errors"}
    missing = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for status in ("400", "401", "403", "404", "409", "422"):
                content = operation["responses"].get(status, {}).get("content", {})
                schema = content.get("application/problem+json", {}).get("schema", {})
                if schema.get("$ref") != "#/components/schemas/Problem":
                    missing.append((method.upper(), path, status))
    assert not missing, missing[:20]


async def test_what_the_document_promises_is_what_a_422_looks_like(api, client):
    doc = (await client.get("/openapi.json")).json()
    required = doc["components"]["schemas"]["Problem"]["required"]
    r = await api.admin.post("/api/v1/registry/areas", json={"code": "12"})
    body = assert_problem(r, 422)
    assert set(required) <= set(body)
    assert all({"field", "message"} <= set(e) for e in body["errors"])


def _problem_response(doc: dict, method: str, path: str, status: str) -> dict:
    content = doc["paths"][path][method]["responses"][status]["content"]
    return content["application/problem+json"]["schema"]


async def test_an_upload_refused_by_its_content_is_a_documented_415(api, client):
    """Found by schemathesis: POST /files answered 415, which the document did not list."""
    r = await api.grid.post(
        "/api/v1/files", files={"file": ("photo.jpg", b"hello, I am text", "image/jpeg")}
    )
    assert_problem(r, 415, "file.type_unsupported")
    doc = (await client.get("/openapi.json")).json()
    assert _problem_response(doc, "post", "/api/v1/files", "415") == PROBLEM_REF


async def test_an_expired_sync_cursor_is_a_documented_410(client):
    doc = (await client.get("/openapi.json")).json()
    assert _problem_response(doc, "get", "/api/v1/grid/sync", "410") == PROBLEM_REF


async def test_a_peer_that_answers_garbage_is_a_documented_502(client):
    """A service whose peer answers what it should not says ``502 upstream.bad_response``
    (services/common/clients/base.py), like the 503 and 504 of a peer down or slow."""
    doc = (await client.get("/openapi.json")).json()
    assert _problem_response(doc, "post", "/api/v1/grid/cases", "502") == PROBLEM_REF
    assert _problem_response(doc, "post", "/api/v1/auth/wechat", "502") == PROBLEM_REF
