"""The merged OpenAPI document tells the truth about errors, so that the mini-program's
generated client handles what the API really answers."""

from __future__ import annotations

from tests.support import assert_problem


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
