"""One OpenAPI document for the whole platform: the gateway's own paths and every
service's, merged, so the mini-program team generates one client."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def merge_openapi(base: dict[str, Any], services: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    paths = merged.setdefault("paths", {})
    schemas = merged.setdefault("components", {}).setdefault("schemas", {})
    tags = {t["name"]: t for t in merged.get("tags", [])}
    for name, doc in services.items():
        rename: dict[str, str] = {}
        for schema_name, schema in doc.get("components", {}).get("schemas", {}).items():
            if schema_name in schemas and schemas[schema_name] != schema:
                rename[schema_name] = f"{name}__{schema_name}"
        for schema_name, schema in doc.get("components", {}).get("schemas", {}).items():
            schemas[rename.get(schema_name, schema_name)] = _retarget(schema, rename)
        for path, item in doc.get("paths", {}).items():
            paths[path] = _retarget(item, rename)
        for tag in doc.get("tags", []):
            tags.setdefault(tag["name"], tag)
    if tags:
        merged["tags"] = list(tags.values())
    return merged


def _retarget(node: Any, rename: Mapping[str, str]) -> Any:
    if not rename:
        return node
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                target = value.rsplit("/", 1)[-1]
                out[key] = f"#/components/schemas/{rename.get(target, target)}"
            else:
                out[key] = _retarget(value, rename)
        return out
    if isinstance(node, list):
        return [_retarget(v, rename) for v in node]
    return node
