"""Every call one service makes to another is checked against the callee's own OpenAPI
document: the operation exists, each query parameter the client sends is one the callee
declares, and each field the client reads is one the callee answers. A renamed or dropped
parameter or field fails the build instead of degrading a figure in production."""

from __future__ import annotations

import types
import typing

import pytest
from pydantic import BaseModel, RootModel

from services.common.clients import all_endpoints

ENDPOINTS = all_endpoints()


@pytest.fixture(scope="module")
def documents(app) -> dict[str, dict]:
    docs = {sub.state.component: sub.openapi() for sub in app.state.embedded_apps}
    docs["gateway"] = app.openapi()
    return docs


def resolve(doc: dict, schema: dict) -> dict:
    while True:
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in schema:
            options = [s for s in schema["anyOf"] if s.get("type") != "null"]
            schema = options[0] if len(options) == 1 else {"anyOf": options}
            if "anyOf" in schema:
                return schema
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def model_inside(annotation) -> tuple[type[BaseModel] | None, bool]:
    """The model an annotation holds (through Optional and list), and whether in a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset):
        inner, _ = model_inside(args[0]) if args else (None, False)
        return inner, True
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            inner, many = model_inside(arg)
            if inner is not None:
                return inner, many
    return None, False


def mismatches(doc: dict, model: type[BaseModel], schema: dict, where: str) -> list[str]:
    schema = resolve(doc, schema)
    if issubclass(model, RootModel):
        inner, many = model_inside(model.model_fields["root"].annotation)
        if many:
            if schema.get("type") != "array":
                return [f"{where}: the callee answers {schema.get('type')}, not a list"]
            schema = resolve(doc, schema["items"])
        return mismatches(doc, inner, schema, where) if inner else []
    properties = schema.get("properties", {})
    out = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in properties:
            out.append(f"{where}.{key}: not in the callee's answer")
            continue
        inner, many = model_inside(field.annotation)
        if inner is not None:
            sub = resolve(doc, properties[key])
            if many:
                sub = resolve(doc, sub.get("items", {}))
            out += mismatches(doc, inner, sub, f"{where}.{key}")
    return out


@pytest.mark.parametrize(
    "endpoint", ENDPOINTS, ids=[f"{e.service}:{e.method} {e.path}" for e in ENDPOINTS]
)
def test_a_client_call_matches_the_callee_document(documents, endpoint):
    doc = documents[endpoint.service]
    operation = doc["paths"].get(endpoint.path, {}).get(endpoint.method.lower())
    assert operation is not None, f"{endpoint.method} {endpoint.path} is not in the callee"
    parameters = operation.get("parameters", [])
    declared = {p["name"] for p in parameters if p["in"] == "query"}
    assert set(endpoint.query) <= declared, set(endpoint.query) - declared
    in_path = {p["name"] for p in parameters if p["in"] == "path"}
    template = {part[1:-1] for part in endpoint.path.split("/") if part.startswith("{")}
    assert template == in_path
    problems = []
    if endpoint.response is not None:
        success = next(
            (operation["responses"][s] for s in ("200", "201") if s in operation["responses"]),
            None,
        )
        assert success is not None, "the callee documents no success answer"
        schema = success["content"]["application/json"]["schema"]
        problems += mismatches(doc, endpoint.response, schema, "answer")
    if endpoint.body is not None:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        problems += mismatches(doc, endpoint.body, schema, "body")
    assert not problems, problems


def test_every_client_declares_its_endpoints():
    assert len(ENDPOINTS) >= 12
    assert len({(e.service, e.method, e.path) for e in ENDPOINTS}) == len(ENDPOINTS)


def test_the_check_sees_a_renamed_field_and_a_nested_one():
    class Row(BaseModel):
        code: str
        rate: float

    class Answer(BaseModel):
        rows: list[Row]

    doc = {
        "components": {
            "schemas": {
                "Row": {"properties": {"code": {}, "ratio": {}}},
                "Out": {
                    "properties": {
                        "rows": {"type": "array", "items": {"$ref": "#/components/schemas/Row"}}
                    }
                },
            }
        }
    }
    found = mismatches(doc, Answer, {"$ref": "#/components/schemas/Out"}, "answer")
    assert found == ["answer.rows.rate: not in the callee's answer"]
