"""Production refuses every key an operator could ship by mistake: the public development
values, the manifests' placeholders, and keys too short or too regular to be random."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from services.common.settings import Settings, generate_secrets

ROOT = Path(__file__).resolve().parents[2]


def production(**keys) -> Settings:
    values = generate_secrets()
    base = {
        "env": "production",
        "demo_data": False,
        "wechat_provider": "real",
        "wechat_app_id": "wx3f1a2b3c4d5e6f70",
        "wechat_app_secret": "9c1f0e7d2b8a4c6e5f3a1b0d9e8c7f6a",
        "secret_key": values["GONGJIAN_SECRET_KEY"],
        "pii_key": values["GONGJIAN_PII_KEY"],
        "pii_index_key": values["GONGJIAN_PII_INDEX_KEY"],
        "s3_endpoint": "http://objects:8333",
        "s3_access_key": values["GONGJIAN_S3_ACCESS_KEY"],
        "s3_secret_key": values["GONGJIAN_S3_SECRET_KEY"],
    }
    return Settings(**(base | keys))


def test_generated_keys_are_accepted():
    assert production().env == "production"


def test_the_kubernetes_placeholders_are_refused():
    docs = yaml.safe_load_all((ROOT / "deploy/k8s/gongjian.yaml").read_text())
    secret = next(d for d in docs if d["kind"] == "Secret")["stringData"]
    for name, field in (
        ("GONGJIAN_SECRET_KEY", "secret_key"),
        ("GONGJIAN_PII_KEY", "pii_key"),
        ("GONGJIAN_PII_INDEX_KEY", "pii_index_key"),
        ("GONGJIAN_WECHAT_APP_SECRET", "wechat_app_secret"),
        ("GONGJIAN_S3_ACCESS_KEY", "s3_access_key"),
        ("GONGJIAN_S3_SECRET_KEY", "s3_secret_key"),
    ):
        with pytest.raises(ValueError):
            production(**{field: secret[name]})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("secret_key", "a" * 64),
        ("secret_key", "abcdabcdabcdabcdabcdabcdabcdabcdabcd"),
        ("secret_key", "correct horse battery staple"),
        ("pii_index_key", "0123456789" * 4),
        ("pii_key", base64.b64encode(b"\x00" * 32).decode()),
        ("pii_key", base64.b64encode(b"short").decode()),
        ("pii_key", "not base64 at all!"),
        ("s3_secret_key", "dev-only-s3-secret-key-change-me-0123456789"),
        ("s3_secret_key", "minio123"),
        ("s3_access_key", "gongjian-dev"),
        ("s3_access_key", ""),
    ],
)
def test_weak_keys_are_refused(field, value):
    with pytest.raises(ValueError):
        production(**{field: value})


def test_compose_runs_in_production_with_no_default_key():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["x-service"]["environment"]
    assert env["GONGJIAN_ENV"] == "production" and env["GONGJIAN_DEMO_DATA"] == "false"
    for name in ("GONGJIAN_SECRET_KEY", "GONGJIAN_PII_KEY", "GONGJIAN_PII_INDEX_KEY"):
        assert ":?" in env[name] and ":-" not in env[name], env[name]


def test_the_split_mode_in_production_needs_the_object_store():
    """Files on one replica's disk are not there for the others: no endpoint, no start."""
    assert production(mode="split").mode == "split"
    with pytest.raises(ValueError, match="GONGJIAN_S3_ENDPOINT"):
        production(mode="split", s3_endpoint="")
    assert production(s3_endpoint="").s3_endpoint == ""  # one process: its own data dir
