"""The split mode for real: every service and the gateway in processes of their own, on
free ports, over HTTP — a user story across services, a burst of sign-ups, a service that
freezes, one that dies and comes back."""

from __future__ import annotations

import asyncio
import hashlib
import io
import signal
import socket
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from gateway.split import (
    SEAWEED_PORTS,
    split_environment,
    start,
    start_gateway,
    start_nats,
    start_seaweedfs,
    start_service,
    stop,
    wait_port,
    wait_ready,
)
from services.common.clock import clock, to_local
from services.common.settings import DEMO_PASSWORD, SERVICE_NAMES
from services.common.storage import S3Store
from tests.factories import activity, square
from tests.support import assert_problem, make_id_number, unique

# What every process reads: a gateway pool much smaller than the burst below, so that most
# of it waits for a connection, and a wait long enough for the burst to drain.
SPLIT_OVERRIDES = {
    "GONGJIAN_RATE_LIMIT_IP_PER_MIN": "1000000",
    "GONGJIAN_RATE_LIMIT_USER_PER_MIN": "1000000",
    "GONGJIAN_PROXY_POOL_SIZE": "10",
    "GONGJIAN_PROXY_POOL_WAIT_S": "60",
    # Every import runs on past its answer, so that another gateway sees it finish, and is
    # parsed in a process of its own, as a large roster is, which reads it from the bucket.
    "GONGJIAN_IMPORT_INLINE_MAX_BYTES": "0",
    "GONGJIAN_IMPORT_PARSE_PROCESS_MIN_BYTES": "0",
}
# A second gateway in front of the same services gives up on an answer after this long, so
# that the stories of a frozen service stay short; the first keeps the deployment's default.
READ_TIMEOUT_S = 2.0
SHORT_OVERRIDES = {"GONGJIAN_PROXY_READ_TIMEOUT_S": str(READ_TIMEOUT_S)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def split(settings, app, tmp_path_factory):
    """``app`` first: the databases are migrated and the demo accounts exist."""
    ports = {name: free_port() for name in SERVICE_NAMES}
    gateway_port, short_port, nats_port = free_port(), free_port(), free_port()
    # The deployed shape: a NATS JetStream of its own carries the events between processes,
    # and a SeaweedFS of its own (outside the processes' data dir) holds their files.
    broker = start_nats(nats_port, Path(settings.data_dir) / f"jetstream-{nats_port}")
    s3_ports = {"s3.port": free_port()} | {name: free_port() for name in SEAWEED_PORTS}
    objects = start_seaweedfs(
        s3_ports,
        tmp_path_factory.mktemp("seaweedfs"),
        settings.s3_access_key,
        settings.s3_secret_key,
    )
    processes = {"nats": broker, "seaweedfs": objects}
    wait_port(nats_port)
    overrides = {
        **SPLIT_OVERRIDES,
        "GONGJIAN_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "GONGJIAN_S3_ENDPOINT": f"http://127.0.0.1:{s3_ports['s3.port']}",
    }
    try:
        processes |= start(settings, gateway_port=gateway_port, ports=ports, overrides=overrides)
    except Exception:
        stop(processes)
        raise
    env = split_environment(settings, ports, gateway_port, overrides)
    processes["short"] = start_gateway(short_port, {**env, **SHORT_OVERRIDES})
    try:
        wait_ready([f"http://127.0.0.1:{short_port}/healthz"])
        yield {
            "url": f"http://127.0.0.1:{gateway_port}",
            "short_url": f"http://127.0.0.1:{short_port}",
            "gateway_port": gateway_port,
            "ports": ports,
            "processes": processes,
            "settings": settings,
            "env": env,
            "s3_endpoint": overrides["GONGJIAN_S3_ENDPOINT"],
        }
    finally:
        stop(processes)


async def test_a_story_across_services(split, base_areas):
    async with httpx.AsyncClient(base_url=split["url"], timeout=10) as http:
        token = (
            await http.post(
                "/api/v1/auth/token", json={"username": "demo-admin", "password": DEMO_PASSWORD}
            )
        ).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        community = "410105001001"
        number = make_id_number()
        r = await http.post(
            "/api/v1/registry/residents",
            headers=admin,
            json={"name": "分体", "id_number": number, "community_code": community},
        )
        assert r.status_code == 201, r.text
        resident = (
            await http.post("/api/v1/auth/wechat", json={"code": f"test:{unique('split')}"})
        ).json()["access_token"]
        mine = {"Authorization": f"Bearer {resident}"}
        # volunteer → registry over HTTP, with a service token, to match the resident
        r = await http.post(
            "/api/v1/volunteer/volunteers",
            headers=mine,
            json={
                "name": "分体",
                "id_number": number,
                "phone": "13700001234",
                "community_code": community,
            },
        )
        assert r.status_code == 201 and r.json()["status"] == "active", r.text
        me = (await http.get("/api/v1/me", headers=mine)).json()
        assert me["volunteer"]["status"] == "active"
        doc = (await http.get("/openapi.json")).json()
        assert (
            "/api/v1/registry/residents" in doc["paths"]
            and "/api/v1/volunteer/volunteers" in doc["paths"]
        )


async def login(http: httpx.AsyncClient, username: str = "demo-admin") -> dict[str, str]:
    r = await http.post(
        "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def bounded(jobs, limit: int = 16) -> list:
    """Runs the awaitables ``limit`` at a time; their results in the order given."""
    gate = asyncio.Semaphore(limit)

    async def one(job):
        async with gate:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


async def volunteer_through(http: httpx.AsyncClient, admin: dict, community: str) -> dict:
    """A resident on the registry who logs in through WeChat and registers as a volunteer,
    all through the split gateway; returns the caller's headers."""
    number = make_id_number()
    r = await http.post(
        "/api/v1/registry/residents",
        headers=admin,
        json={"name": "志愿者", "id_number": number, "community_code": community},
    )
    assert r.status_code == 201, r.text
    r = await http.post("/api/v1/auth/wechat", json={"code": f"test:{unique('wx')}"})
    assert r.status_code == 200, r.text
    mine = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await http.post(
        "/api/v1/volunteer/volunteers",
        headers=mine,
        json={
            "name": "志愿者",
            "id_number": number,
            "phone": "13700001234",
            "community_code": community,
        },
    )
    assert r.status_code == 201 and r.json()["status"] == "active", r.text
    return mine


async def test_five_hundred_sign_ups_through_the_gateway_all_land(split, api, new_community):
    """The burst the volunteer suite sends to the service, sent through the split gateway
    with a pool of 10 connections: every request waits its turn, none is turned away."""
    community = await new_community()
    event = await activity(api, community, capacity=50)
    limits = httpx.Limits(max_connections=600, max_keepalive_connections=600)
    async with httpx.AsyncClient(base_url=split["url"], timeout=60, limits=limits) as http:
        admin = await login(http)
        callers = await bounded((volunteer_through(http, admin, community) for _ in range(500)), 8)
        results = await asyncio.gather(
            *(
                http.post(f"/api/v1/volunteer/activities/{event['id']}/signups", headers=h)
                for h in callers
            )
        )
        refused = [(r.status_code, r.text[:200]) for r in results if r.status_code != 201]
        assert not refused, (len(refused), refused[:3])
        signups = [r.json() for r in results]
        assert sum(s["status"] == "confirmed" for s in signups) == 50
        assert sum(s["status"] == "waitlisted" for s in signups) == 450
        state = (
            await http.get(f"/api/v1/volunteer/activities/{event['id']}", headers=admin)
        ).json()
        assert (state["confirmed"], state["waitlisted"]) == (50, 450)


def activity_body(community: str, title: str) -> dict:
    start = to_local(clock.now() + timedelta(days=2))
    return {
        "community_code": community,
        "title": title,
        "category": "environment",
        "start_at": start.isoformat(),
        "end_at": (start + timedelta(hours=2)).isoformat(),
        "capacity": 10,
    }


async def first_ok(http: httpx.AsyncClient, url: str, *, within_s: float, **kw) -> float:
    """Asks every 50 ms until a 200; the monotonic time of that answer."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            if (await http.get(url, **kw)).status_code == 200:
                return time.monotonic()
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer 200 within {within_s} s"
        await asyncio.sleep(0.05)


async def test_a_frozen_service_is_a_504_and_its_write_is_neither_hidden_nor_doubled(
    split, new_community
):
    """The volunteer service stops (SIGSTOP) with requests in flight: each is a 504 after
    the read timeout, sent once; the others keep answering; the activity it was asked to
    create exists exactly once after it wakes, and the client's retry with the same key
    gets the first answer."""
    community = await new_community()
    frozen = split["processes"]["volunteer"]
    payload = activity_body(community, unique("冻结"))
    key = {"Idempotency-Key": unique("key")}
    async with httpx.AsyncClient(base_url=split["short_url"], timeout=30) as http:
        admin = await login(http)
        listing = {"params": {"community": community, "limit": 100}, "headers": admin}
        frozen.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            r = await http.get("/api/v1/volunteer/activities", **listing)
            took = time.monotonic() - started
            assert assert_problem(r, 504, "upstream.timeout")["service"] == "volunteer"
            # Not retried: one read timeout, not two.
            assert READ_TIMEOUT_S - 0.1 <= took < READ_TIMEOUT_S + 1.5, took

            for path in ("/api/v1/registry/areas/410105000000", "/api/v1/grid/case-categories"):
                started = time.monotonic()
                assert (await http.get(path, headers=admin)).status_code == 200
                assert time.monotonic() - started < 1

            started = time.monotonic()
            r = await http.post(
                "/api/v1/volunteer/activities",
                json=payload,
                headers={**admin, **key},
            )
            took = time.monotonic() - started
            assert assert_problem(r, 504, "upstream.timeout")["service"] == "volunteer"
            assert READ_TIMEOUT_S - 0.1 <= took < READ_TIMEOUT_S + 1.5, took
        finally:
            frozen.send_signal(signal.SIGCONT)

        async def ours() -> list[dict]:
            r = await http.get("/api/v1/volunteer/activities", **listing)
            assert r.status_code == 200, r.text
            return [a for a in r.json()["items"] if a["title"] == payload["title"]]

        # The service did what it was asked once it woke: the 504 hid no write.
        deadline = time.monotonic() + 15
        while not await ours():
            assert time.monotonic() < deadline, "the frozen request was never carried out"
            await asyncio.sleep(0.1)
        # The client retries with the same key: the first answer, nothing new.
        deadline = time.monotonic() + 15
        while True:
            again = await http.post(
                "/api/v1/volunteer/activities",
                json=payload,
                headers={**admin, **key},
            )
            if again.status_code != 409 or time.monotonic() > deadline:
                break  # 409: the first is still running
            await asyncio.sleep(0.1)
        assert again.status_code == 201, again.text
        assert again.headers.get("idempotent-replayed") == "true"
        made = await ours()
        assert [a["id"] for a in made] == [again.json()["id"]]


async def test_a_killed_service_is_a_fast_503_and_is_back_within_a_second_of_ready(split):
    """The registry dies: its routes answer 503 at once, the others keep answering. It
    comes back on its port: the gateway, whose breaker had opened, sends to it again within
    a second of its /readyz answering, without a restart of its own."""
    port = split["ports"]["registry"]
    async with httpx.AsyncClient(base_url=split["url"], timeout=10) as http:
        admin = await login(http)
        dead = split["processes"]["registry"]
        dead.send_signal(signal.SIGKILL)
        dead.wait()
        for _ in range(6):  # more than the breaker's threshold: it opens
            started = time.monotonic()
            r = await http.get("/api/v1/registry/areas", headers=admin)
            assert time.monotonic() - started < 1
            assert assert_problem(r, 503, "upstream.unavailable")["service"] == "registry"
        assert (await http.get("/api/v1/volunteer/activities", headers=admin)).status_code == 200
        assert (await http.get("/api/v1/grid/case-categories", headers=admin)).status_code == 200

        split["processes"]["registry"] = start_service("registry", port, split["env"])
        async with httpx.AsyncClient(timeout=1) as direct:
            ready_at = await first_ok(direct, f"http://127.0.0.1:{port}/readyz", within_s=60)
        back_at = await first_ok(http, "/api/v1/registry/areas", within_s=10, headers=admin)
        assert back_at - ready_at < 1.0, back_at - ready_at


async def test_an_event_written_while_its_consumer_is_down_is_applied_when_it_returns(
    split, api, new_community
):
    """A resident moves out while the volunteer service is down: the registry's outbox and
    NATS keep the event, and the volunteer service acts on it once it is back."""
    community = await new_community()
    async with httpx.AsyncClient(base_url=split["url"], timeout=10) as http:
        admin = await _login(http, "demo-admin")
        number = make_id_number()
        r = await http.post(
            "/api/v1/registry/residents",
            headers=admin,
            json={"name": "迁出", "id_number": number, "community_code": community},
        )
        assert r.status_code == 201, r.text
        resident_id = r.json()["id"]
        wx = (await http.post("/api/v1/auth/wechat", json={"code": f"test:{unique('mv')}"})).json()[
            "access_token"
        ]
        mine = {"Authorization": f"Bearer {wx}"}
        r = await http.post(
            "/api/v1/volunteer/volunteers",
            headers=mine,
            json={
                "name": "迁出",
                "id_number": number,
                "phone": "13700001234",
                "community_code": community,
            },
        )
        assert r.status_code == 201 and r.json()["status"] == "active", r.text

        volunteer = split["processes"]["volunteer"]
        volunteer.send_signal(signal.SIGKILL)
        volunteer.wait()
        r = await http.post(
            f"/api/v1/registry/residents/{resident_id}/move-out",
            headers=admin,
            json={"moved_out_on": "2026-11-01", "reason": "搬家"},
        )
        assert r.status_code == 200, r.text

        split["processes"]["volunteer"] = start_service(
            "volunteer", split["ports"]["volunteer"], split["env"]
        )
        await asyncio.to_thread(
            wait_ready, [f"http://127.0.0.1:{split['ports']['volunteer']}/readyz"]
        )
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            r = await http.get("/api/v1/volunteer/volunteers/me", headers=mine)
            status = r.json().get("status") if r.status_code == 200 else None
            if status == "pending":
                break
            await asyncio.sleep(0.5)
        assert status == "pending"


async def _login(http, username: str) -> dict:
    r = await http.post(
        "/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_a_logout_reaches_every_service_process_within_seconds(split, api):
    """The gateway publishes the revocation on NATS; each service process, which checks
    tokens itself, refuses the old token within seconds, not when it expires 15 min later."""
    username = unique("out")
    r = await api.admin.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": "split-pass-1",
            "role": "grid_worker",
            "scope": ["410105001001"],
        },
    )
    assert r.status_code == 201, r.text
    async with httpx.AsyncClient(base_url=split["url"], timeout=10) as http:
        pair = (
            await http.post(
                "/api/v1/auth/token", json={"username": username, "password": "split-pass-1"}
            )
        ).json()
        mine = {"Authorization": f"Bearer {pair['access_token']}"}
        assert (await http.get("/api/v1/registry/residents", headers=mine)).status_code == 200
        out = await http.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
        assert out.status_code == 204
        started = time.monotonic()
        refused = set()
        while time.monotonic() - started < 10 and len(refused) < 3:
            for path in ("/api/v1/registry/residents", "/api/v1/grid/cases", "/api/v1/me"):
                r = await http.get(path, headers=mine)
                if r.status_code == 401 and r.json()["code"] == "auth.token_revoked":
                    refused.add(path)
            await asyncio.sleep(0.2)
        assert len(refused) == 3, refused
        assert time.monotonic() - started < 5


def _files_under(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_a_photo_and_a_roster_sent_through_one_gateway_are_read_through_another(
    split, new_community
):
    """Two gateway processes in front of the same services, as two replicas would be: a
    photo uploaded through one is read through the other, a roster imported through one is
    finished and its error sheet downloaded through the other, and no process keeps any of
    it on its own disk: the object store holds the files."""
    from openpyxl import Workbook, load_workbook

    from tests.factories import RESIDENT_HEADER, tiny_png

    community = await new_community()
    data_dir = Path(split["settings"].data_dir)
    before = set(_files_under(data_dir / "files")) | set(_files_under(data_dir / "imports"))
    async with (
        httpx.AsyncClient(base_url=split["url"], timeout=30) as one,
        httpx.AsyncClient(base_url=split["short_url"], timeout=30) as other,
    ):
        admin = await login(one)
        photo = tiny_png()
        r = await one.post("/api/v1/files", headers=admin, files={"file": ("p.png", photo)})
        assert r.status_code == 201, r.text
        url = r.json()["url"]
        got = await other.get(url, headers=admin)
        assert got.status_code == 200 and got.content == photo, got.text
        assert got.headers["content-type"] == "image/png"
        # The scope check still comes first: a resident who did not upload it reads nothing.
        wx = (await other.post("/api/v1/auth/wechat", json={"code": f"test:{unique('f')}"})).json()
        stranger = {"Authorization": f"Bearer {wx['access_token']}"}
        assert_problem(await other.get(url, headers=stranger), 404)

        # A roster large enough to run on past the answer and to be parsed in a process of
        # its own (both bounds are 0 here), as an xlsx that the parser reads back from the
        # bucket by seeking.
        good = [["甲", make_id_number(), "13912345678", community, "", "", "", "常住", "", ""]]
        bad = [["乙", make_id_number(), "1391", community, "", "", "", "常住", "", ""]]
        book = Workbook()
        sheet = book.active
        for row in [RESIDENT_HEADER, *good, *bad]:
            sheet.append(row)
        content = io.BytesIO()
        book.save(content)
        r = await one.post(
            "/api/v1/registry/imports",
            headers=admin,
            data={"kind": "residents"},
            files={"file": ("roster.xlsx", content.getvalue())},
        )
        assert r.status_code in (201, 202), r.text
        job_url = f"/api/v1/registry/imports/{r.json()['id']}"
        deadline = time.monotonic() + 20
        while (job := (await other.get(job_url, headers=admin)).json())["status"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.1)
        assert (job["status"], job["imported"], job["failed"]) == ("done", 1, 1), job
        sheet_file = await other.get(f"{job_url}/errors.xlsx", headers=admin)
        assert sheet_file.status_code == 200, sheet_file.text
        rows = list(
            load_workbook(io.BytesIO(sheet_file.content)).active.iter_rows(values_only=True)
        )
        assert rows[1][0] == "乙" and len(rows) == 2, rows
    after = set(_files_under(data_dir / "files")) | set(_files_under(data_dir / "imports"))
    assert after == before == set(), after
    # The bucket holds the photo once, by its sha256; the roster went with its job.
    store = S3Store(split["settings"].model_copy(update={"s3_endpoint": split["s3_endpoint"]}))
    try:
        sha = hashlib.sha256(photo).hexdigest()
        assert await store.get(f"files/{sha[:2]}/{sha[2:4]}/{sha}") == photo
        assert not await store.exists(f"imports/{job['id']}.xlsx.sealed")
    finally:
        await store.aclose()


async def test_a_new_cell_is_located_through_the_split_gateway_as_soon_as_its_201_arrives(
    split, new_community, spot
):
    """The grid process's index is read by a stream of phones while cells are drawn; right
    after each 201, every point inside the new cell is found there."""
    community = await new_community()
    lat, lng = spot
    async with httpx.AsyncClient(base_url=split["url"], timeout=10) as http:
        admin = await login(http)
        drawing = True

        async def phones() -> None:
            while drawing:
                r = await http.get(
                    "/api/v1/grid/locate",
                    headers=admin,
                    params={"lat": lat + 0.0095, "lng": lng + 0.0095},
                )
                assert r.status_code == 404, r.text

        readers = [asyncio.ensure_future(phones()) for _ in range(8)]
        try:
            for i in range(10):
                corner = (lat + (i // 4) * 0.002, lng + (i % 4) * 0.002)
                r = await http.post(
                    "/api/v1/grid/cells",
                    headers=admin,
                    json={
                        "community_code": community,
                        "name": "网格",
                        "boundary": square(*corner, 0.0015),
                    },
                )
                assert r.status_code == 201, r.text
                inside = [
                    {"lat": corner[0] + 0.0001 * (1 + k), "lng": corner[1] + 0.0013 - 0.0001 * k}
                    for k in range(12)
                ]
                found = await asyncio.gather(
                    *(http.get("/api/v1/grid/locate", headers=admin, params=p) for p in inside)
                )
                assert [f.status_code for f in found] == [200] * 12, (i, [f.text for f in found])
                assert {f.json()["code"] for f in found} == {r.json()["code"]}
        finally:
            drawing = False
            await asyncio.gather(*readers)


async def test_two_gateway_replicas_hold_one_rate_limit_between_them(split):
    """Behind a load balancer a phone's requests reach one gateway and then another: they
    share one limit (through the gateway's database), not one each."""
    limit = 100
    env = {
        **split["env"],
        "GONGJIAN_RATE_LIMIT_IP_PER_MIN": str(limit),
        "GONGJIAN_RATE_LIMIT_SYNC_S": "0.05",
        # The phone's address comes from the (trusted) load balancer in front.
        "GONGJIAN_TRUSTED_PROXIES": '["127.0.0.1"]',
    }
    ports = [free_port(), free_port()]
    replicas = {f"replica{i}": start_gateway(port, env) for i, port in enumerate(ports)}
    try:
        wait_ready([f"http://127.0.0.1:{port}/healthz" for port in ports])
        phone = f"198.51.100.{int(time.time() * 1000) % 250 + 1}"
        codes = []
        async with httpx.AsyncClient(timeout=10) as http:
            for n in range(3 * limit):
                r = await http.get(
                    f"http://127.0.0.1:{ports[n % 2]}/api/v1/me",
                    headers={"X-Forwarded-For": phone},
                )
                codes.append(r.status_code)
                # A phone's pace, not a flood: the overshoot is what arrives between two
                # syncs, and a machine loaded by other work delays a sync by a few tenths.
                await asyncio.sleep(0.01)
        allowed = sum(1 for code in codes if code != 429)
        # Two limits of their own would let 200 through; one shared limit lets the 100
        # through, and above them at most what the replicas admit between two syncs of
        # their counts (a few here, however large the limit).
        assert limit <= allowed < 1.5 * limit, (allowed, codes)
        assert codes[-1] == 429
    finally:
        stop(replicas)
