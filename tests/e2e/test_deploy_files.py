"""The deployment files say what the split mode needs: every component, probes, config."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = {"gateway", "registry", "grid", "volunteer", "assessment"}


def test_compose_runs_every_component_from_one_image_after_migrations():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert COMPONENTS | {"postgres", "nats", "migrate"} <= set(services)
    for name in COMPONENTS:
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )
        assert services[name]["environment"]["GONGJIAN_MODE"] == "split"
        assert "healthz" in " ".join(services[name]["healthcheck"]["test"])


def _compose_client() -> list[str] | None:
    """docker-compose, or docker with its compose plugin; a bare docker client has neither."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.mark.skipif(
    _compose_client() is None, reason="no compose client on this machine (docker-compose or plugin)"
)
def test_compose_config_passes():
    done = subprocess.run(
        [*_compose_client(), "config", "-q"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_kubernetes_has_a_deployment_service_and_autoscaler_per_component_with_probes():
    docs = list(yaml.safe_load_all((ROOT / "deploy/k8s/gongjian.yaml").read_text()))
    kinds: dict[str, set[str]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], set()).add(doc["metadata"]["name"])
        if doc["kind"] == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert {"configMapRef", "secretRef"} <= {next(iter(e)) for e in container["envFrom"]}
    expected = {f"gongjian-{c}" for c in COMPONENTS}
    assert expected <= kinds["Deployment"] and expected <= kinds["Service"]
    assert expected <= kinds["HorizontalPodAutoscaler"]
    assert {"ConfigMap", "Secret", "Job"} <= set(kinds)
