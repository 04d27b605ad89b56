"""Import jobs on more than one replica: each job is run by one replica at a time, on a
lease it renews while it runs; a replica that starts resumes only the jobs whose lease has
run out (their replica died), never another live replica's job."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from starlette.datastructures import State

from services.common.clock import clock
from services.common.ids import new_id
from services.registry import repository
from services.registry.imports import jobs, pipeline
from services.registry.imports.rows import Context, parse_chunk
from services.registry.imports.writing import LeaseLost, Tally, Writer
from services.registry.models import ImportJob, Resident
from tests.factories import RESIDENT_HEADER, csv_roster, upload_roster
from tests.support import make_id_number


def _registry(app):
    return next(a for a in app.state.embedded_apps if hasattr(a.state, "import_tasks"))


def _replica(registry):
    """Another app instance on the same database, as a second pod would be."""
    state = State(
        {
            "database": registry.state.database,
            "cipher": registry.state.cipher,
            "settings": registry.state.settings,
        }
    )
    return SimpleNamespace(state=state)


async def _job(database, **values) -> str:
    job_id = new_id()
    async with database.transaction() as session:
        session.add(
            ImportJob(
                id=job_id,
                kind="residents",
                filename="r.csv",
                file_path=f"/nonexistent/{job_id}.csv",
                created_by="test",
                scope=["*"],
                **values,
            )
        )
    return job_id


async def test_two_replicas_starting_at_once_never_run_one_job_twice(app, monkeypatch):
    registry = _registry(app)
    database = registry.state.database
    lease = timedelta(seconds=registry.state.settings.import_lease_s)
    now = clock.now()
    live = await _job(database, status="running", claimed_by="pod-a", lease_until=now + lease)
    dead = await _job(database, status="running", claimed_by="pod-b", lease_until=now)
    queued = await _job(database, status="queued")
    ours = {live, dead, queued}
    ran: list[tuple[str, str]] = []

    def record(state, job):  # what the replica would run; the test runs no file
        ran.append((state.replica_id, job.id))

    monkeypatch.setattr(jobs, "run_claimed_in_background", record)
    clock.advance(timedelta(seconds=1))
    one, two = _replica(registry), _replica(registry)
    await asyncio.gather(jobs.resume_stalled(one), jobs.resume_stalled(two))
    mine = [(replica, job) for replica, job in ran if job in ours]
    assert sorted(job for _, job in mine) == sorted([dead, queued]), mine
    async with database.transaction(write=False) as session:
        for replica, job_id in mine:
            job = await repository.import_job_by_id(session, job_id)
            assert (job.status, job.claimed_by) == ("running", replica)
        assert (await repository.import_job_by_id(session, live)).claimed_by == "pod-a"
    async with database.transaction() as session:  # those two ran to their end
        for _, job_id in mine:
            await repository.update_import_job(session, job_id, status="done", lease_until=None)

    # pod-a renews its lease while it runs: a replica starting later still leaves it alone.
    async with database.transaction() as session:
        assert await repository.renew_import_lease(
            session, live, replica="pod-a", lease_until=clock.now() + lease
        )
        assert not await repository.renew_import_lease(
            session, live, replica=one.state.replica_id, lease_until=clock.now() + lease
        )
    ran.clear()
    clock.advance(lease / 2)
    await asyncio.gather(jobs.resume_stalled(_replica(registry)), jobs.resume_stalled(one))
    assert [job for _, job in ran if job in ours] == []

    # pod-a dies: once its lease has run out, exactly one replica takes the job up.
    clock.advance(lease)
    late = [_replica(registry) for _ in range(3)]
    await asyncio.gather(*(jobs.resume_stalled(r) for r in late))
    assert [job for _, job in ran if job in ours] == [live]


async def test_a_replica_that_lost_the_lease_writes_nothing_of_its_next_batch(app, new_community):
    """The lease is renewed in each batch's own transaction: once another replica holds the
    job, the batch in hand is not written, not even in part, and its run stops."""
    registry = _registry(app)
    database, cipher = registry.state.database, registry.state.cipher
    community = await new_community()
    lease = timedelta(seconds=registry.state.settings.import_lease_s)
    job_id = await _job(
        database, status="running", claimed_by="pod-b", lease_until=clock.now() + lease
    )
    async with database.transaction(write=False) as session:
        job = await repository.import_job_by_id(session, job_id)
    header = list(RESIDENT_HEADER)
    row = ["甲", make_id_number(), "", community, "", "", "", "常住", "", ""]
    ctx = Context(
        scope=[],
        unrestricted=True,
        communities={community},
        tags_by_name={},
        cipher=cipher,
        today=clock.today(),
    )
    batch = parse_chunk("residents", [row], 1, {h: i for i, h in enumerate(header)}, ctx)
    assert batch and not batch[0].problems

    async def renew(session) -> bool:  # pod-a, whose lease pod-b took over
        return await repository.renew_import_lease(
            session, job_id, replica="pod-a", lease_until=clock.now() + lease
        )

    with pytest.raises(LeaseLost):
        await Writer(database, cipher, job).write("residents", batch, Tally(), renew)
    async with database.transaction(write=False) as session:
        assert (await repository.import_job_by_id(session, job_id)).total == 0
        found = await session.execute(
            select(Resident.id).where(Resident.id_number_index == batch[0].data.id_number_index)
        )
        assert found.first() is None


def _parsers() -> list[str]:
    """This process's children that are a roster's parsing process."""
    found = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as handle:
            for pid in handle.read().split():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                        if b"services.registry.imports.pipeline" in cmdline.read():
                            found.append(pid)
                except OSError:  # gone meanwhile
                    continue
    return found


async def test_a_roster_parsed_in_its_own_process_when_the_server_stops_is_taken_up_again(
    api, app, new_community, settings, monkeypatch
):
    """A deploy stops the registry while a large roster is being written, parsed in a
    process of its own: that process ends with the job (none is left behind), the job is
    queued again, and the replica that starts next imports every row once."""
    registry = _registry(app)
    monkeypatch.setattr(settings, "import_parse_process_min_bytes", 0)
    monkeypatch.setattr(settings, "import_inline_max_bytes", 0)
    # Batches of 1,000 rows, and little held of what the parser sends: the parser is still
    # sending (its pipe full) when the server stops, as with a roster of 100,000 rows.
    monkeypatch.setattr(jobs, "BATCH_ROWS", 1_000)
    monkeypatch.setattr(jobs, "SQLITE_BATCH_ROWS", 1_000)
    monkeypatch.setattr(pipeline, "_BUFFERED_BYTES", 64 * 1024)
    community = await new_community()
    people = 10_100
    rows = [
        [f"居民{i}", make_id_number(), "", community, "", "", "", "常住", "", ""]
        for i in range(people)
    ]
    first_written, stop = asyncio.Event(), asyncio.Event()
    apply = Writer.apply

    async def pausing_after_the_first_batch(self, plan, tally, renew=None):
        await apply(self, plan, tally, renew)
        first_written.set()
        await stop.wait()  # the deploy comes now

    monkeypatch.setattr(Writer, "apply", pausing_after_the_first_batch)
    r = await upload_roster(api.admin, csv_roster(rows), name="roster.csv")
    assert r.status_code == 202 and r.json()["status"] in ("queued", "running"), r.text
    job_url = f"/api/v1/registry/imports/{r.json()['id']}"
    await asyncio.wait_for(first_written.wait(), 60)
    assert _parsers(), "the roster is parsed in a process of its own"

    running = list(registry.state.import_tasks)
    await jobs.cancel_running(registry)
    await asyncio.gather(*running, return_exceptions=True)
    assert _parsers() == []
    assert (await api.admin.get(job_url)).json()["status"] == "queued"

    monkeypatch.setattr(Writer, "apply", apply)
    await jobs.resume_stalled(registry)
    await asyncio.gather(*registry.state.import_tasks)
    job = (await api.admin.get(job_url)).json()
    assert (job["status"], job["imported"] + job["unchanged"], job["failed"]) == (
        "done",
        people,
        0,
    ), job
    stats = (await api.admin.get(f"/api/v1/registry/areas/{community}/stats")).json()
    assert stats["residents"] == people
