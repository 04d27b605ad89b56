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
            # No pod serves before its database is at head: each migrates first (replicas
            # starting at once take turns; see services/common/migrations.py).
            [init] = doc["spec"]["template"]["spec"]["initContainers"]
            assert init["command"] == ["gongjian", "migrate"]
            assert init["image"] == container["image"] and init["envFrom"] == container["envFrom"]
    expected = {f"gongjian-{c}" for c in COMPONENTS}
    assert expected <= kinds["Deployment"] and expected <= kinds["Service"]
    assert expected <= kinds["HorizontalPodAutoscaler"]
    assert {"ConfigMap", "Secret"} <= set(kinds)


S3_SETTINGS = ("GONGJIAN_S3_ENDPOINT", "GONGJIAN_S3_BUCKET", "GONGJIAN_S3_REGION")
S3_KEYS = ("GONGJIAN_S3_ACCESS_KEY", "GONGJIAN_S3_SECRET_KEY")


def _object_store(services: dict) -> tuple[str, dict]:
    found = [
        (name, s)
        for name, s in services.items()
        if any(image in s.get("image", "") for image in ("seaweedfs", "minio"))
    ]
    assert len(found) == 1, found
    return found[0]


def test_compose_keeps_every_file_in_an_object_store_on_a_named_volume():
    """Every component reaches the same S3 store, its keys from the .env file; the store's
    data rests on a named volume, and no component of ours mounts a disk of its own."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    name, store = _object_store(services)
    assert "-s3" in store["command"] or "server" in store["command"]
    volume = store["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert "healthz" in " ".join(store["healthcheck"]["test"])
    # The store's admin identity is the platform's keys, from the same .env variables.
    for env_name, key in (
        ("AWS_ACCESS_KEY_ID", "GONGJIAN_S3_ACCESS_KEY"),
        ("AWS_SECRET_ACCESS_KEY", "GONGJIAN_S3_SECRET_KEY"),
    ):
        assert store["environment"][env_name].startswith(f"${{{key}:?"), store["environment"]
    assert services["migrate"]["depends_on"][name]["condition"] == "service_healthy"
    for component in COMPONENTS | {"migrate"}:
        env = services[component]["environment"]
        assert all(env.get(s) for s in S3_SETTINGS), (component, env)
        assert env["GONGJIAN_S3_ENDPOINT"].startswith(f"http://{name}:")
        for key in S3_KEYS:
            assert env[key].startswith(f"${{{key}:?") and ":-" not in env[key], env[key]
        assert not services[component].get("volumes"), component


def test_kubernetes_keeps_every_file_in_an_object_store_on_a_claimed_volume():
    docs = list(yaml.safe_load_all((ROOT / "deploy/k8s/gongjian.yaml").read_text()))
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    secret = next(d for d in docs if d["kind"] == "Secret")["stringData"]
    assert all(config.get(s) for s in S3_SETTINGS), config
    assert all(key in secret and key not in config for key in S3_KEYS)
    stateful = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] != "nats"]
    assert len(stateful) == 1
    store = stateful[0]
    container = store["spec"]["template"]["spec"]["containers"][0]
    assert any(image in container["image"] for image in ("seaweedfs", "minio"))
    # Its data on a claim, its probes, its keys from the Secret the platform reads.
    claims = {c["metadata"]["name"] for c in store["spec"]["volumeClaimTemplates"]}
    assert {m["name"] for m in container["volumeMounts"]} <= claims
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]}
    assert set(S3_KEYS) <= refs
    # The platform's endpoint is this store's Service, on the port it serves.
    service = next(
        d
        for d in docs
        if d["kind"] == "Service"
        and d["spec"]["selector"] == store["spec"]["selector"]["matchLabels"]
    )
    port = service["spec"]["ports"][0]["port"]
    assert config["GONGJIAN_S3_ENDPOINT"] == f"http://{service['metadata']['name']}:{port}"
    # No pod of ours keeps state on its own disk.
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            spec = doc["spec"]["template"]["spec"]
            assert not spec.get("volumes"), doc["metadata"]["name"]
            assert not spec["containers"][0].get("volumeMounts"), doc["metadata"]["name"]


def test_kubernetes_runs_the_event_broker_the_services_name():
    """Every split deployment carries its events on NATS JetStream: the ConfigMap's
    GONGJIAN_NATS_URL is a Service of the manifest, whose JetStream keeps its streams on a
    claimed volume and answers probes."""
    docs = list(yaml.safe_load_all((ROOT / "deploy/k8s/gongjian.yaml").read_text()))
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    host, port = config["GONGJIAN_NATS_URL"].removeprefix("nats://").split(":")
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == host)
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    broker = next(
        d
        for d in docs
        if d["kind"] == "StatefulSet"
        and d["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    )
    container = broker["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("nats:")
    assert "-js" in container["args"] and "-sd" in container["args"]
    store = container["args"][container["args"].index("-sd") + 1]
    claims = {c["metadata"]["name"] for c in broker["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[store] in claims
    assert container["readinessProbe"]["httpGet"]["path"].startswith("/healthz")
    assert container["livenessProbe"]["httpGet"]["path"].startswith("/healthz")


@pytest.mark.parametrize("fmt", ["env", "k8s"])
def test_gongjian_secrets_writes_the_object_store_keys_too(fmt, capsys):
    from gateway.cli import main

    main(["secrets", "--format", fmt])
    out = capsys.readouterr().out
    if fmt == "env":
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    else:
        values = yaml.safe_load(out)["stringData"]
    for key in S3_KEYS:
        assert len(values[key]) >= 20, (key, values.get(key))
