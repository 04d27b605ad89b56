"""Every service is laid out the same way, so that a reader who knows one knows all: routes
(api) that build no query, the rules (service), every query and the scope in repository.py,
the tables (models), the wire (schemas); and no service reads another's code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registry", "grid", "volunteer", "assessment")
QUERY_CALLS = {"select", "update", "delete", "insert"}
SESSION_QUERIES = {"execute", "scalar", "scalars", "get"}


def python_files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(path.rglob("*.py"))


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_has_the_same_files(name):
    root = ROOT / "services" / name
    for part in ("repository.py", "models.py", "schemas.py", "app.py"):
        assert (root / part).is_file(), f"{name}/{part}"
    for part in ("api", "service"):
        assert (root / part / "__init__.py").is_file(), f"{name}/{part}/ is a package"


@pytest.mark.parametrize("name", SERVICES)
def test_routes_and_rules_build_no_query(name):
    """Queries live in the repository; routes and rules call it."""
    offenders = []
    for folder in ("api", "service"):
        for path in python_files(ROOT / "services" / name / folder):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "sqlalchemy"
                ):
                    names = {a.name for a in node.names}
                    if names & QUERY_CALLS:
                        offenders.append(f"{path.relative_to(ROOT)}: imports {sorted(names)}")
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SESSION_QUERIES
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "session"
                ):
                    offenders.append(
                        f"{path.relative_to(ROOT)}:{node.lineno}: session.{node.func.attr}"
                    )
    assert not offenders, offenders


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_imports_no_other_service(name):
    others = [f"services.{o}" for o in SERVICES if o != name]
    offenders = []
    for path in python_files(ROOT / "services" / name):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and any(module == o or module.startswith(o + ".") for o in others):
                offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert not offenders, offenders


def test_the_kernel_imports_no_service():
    offenders = []
    for path in python_files(ROOT / "services" / "common"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and any(module.startswith(f"services.{s}") for s in SERVICES):
                offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert not offenders, offenders


def test_stories_share_factories_not_each_other():
    """Setup comes from tests/factories.py (and tests/support.py): a story module that
    imports another couples two stories that should change apart."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if (
                module
                and module.startswith("tests.")
                and module
                not in (
                    "tests.factories",
                    "tests.support",
                )
            ):
                offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert not offenders, offenders


def test_a_peer_is_called_only_through_its_typed_client():
    """``Peers`` is the transport under ``services/common/clients``: a call made beside the
    clients would have its own failure handling and escape the contract test."""
    transport = {
        ROOT / "services" / "common" / "peers.py",
        ROOT / "services" / "common" / "clients" / "base.py",
    }
    offenders = []
    for path in python_files(ROOT / "services") + python_files(ROOT / "gateway"):
        if path in transport:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("call", "client", "service_token")
            ):
                continue
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name == "peers":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: peers.{node.func.attr}")
    assert not offenders, offenders
