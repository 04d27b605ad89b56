"""``make run-split`` keeps the deployment's shape on one machine: a process that dies is
started again while the others serve on, and a start that fails leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway import split
from services.common.settings import Settings


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_process_that_exits_is_started_again_and_the_others_are_left_alone():
    processes = {"registry": sleeper(), "volunteer": sleeper()}
    try:
        keep = processes["registry"]
        processes["volunteer"].kill()
        processes["volunteer"].wait()
        assert split.restart_exited(processes, {"volunteer": sleeper, "registry": sleeper}) == [
            "volunteer"
        ]
        assert processes["registry"] is keep and keep.poll() is None
        assert processes["volunteer"].poll() is None
        assert split.restart_exited(processes, {"volunteer": sleeper}) == []
    finally:
        split.stop(processes)


def test_a_start_that_fails_half_way_stops_what_it_started(monkeypatch, tmp_path):
    started: list[subprocess.Popen] = []

    def fake_service(*args, **kwargs) -> subprocess.Popen:
        started.append(sleeper())
        return started[-1]

    def never_ready(urls, timeout_s=0):
        raise RuntimeError(f"{urls[0]} did not come up")

    monkeypatch.setattr(split, "start_service", fake_service)
    monkeypatch.setattr(split, "wait_object_store", lambda settings: None)
    monkeypatch.setattr(split, "wait_ready", never_ready)
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        nats_url="nats://127.0.0.1:1",
        s3_endpoint="http://127.0.0.1:1",
    )
    with pytest.raises(RuntimeError, match="did not come up"):
        split.start(settings, gateway_port=1, ports={"registry": 2, "grid": 3})
    assert len(started) == 2
    assert all(p.poll() is not None for p in started)  # nothing left holding the ports
