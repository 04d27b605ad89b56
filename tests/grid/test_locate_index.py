"""The locate index while cells change: phones keep being answered while it is built again,
a changed cell is found as soon as its answer is back, a burst of changes ends in one
correct index, and another process's changes arrive by the poll."""

from __future__ import annotations

import asyncio
import math
import threading
from datetime import timedelta

import pytest

from services.common.clock import clock
from services.grid import repository
from services.grid.geometry import CellIndex
from services.grid.models import Cell
from tests.factories import make_cell, square
from tests.support import assert_problem


@pytest.fixture
def grid_app(app):
    return next(sub for sub in app.state.embedded_apps if sub.state.component == "grid")


@pytest.fixture
async def state(grid_app):
    state = grid_app.state.grid
    await state.current(grid_app.state.database)
    await state.settled()  # what earlier stories left running is done
    return state


class Gate:
    """Holds a build in its worker thread until the story lets it go."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()
        self.calls = 0

    def wrap(self, build):
        def held(*args, **kwargs):
            self.calls += 1
            self.entered.set()
            self.open.wait(timeout=10)  # a bound, so that a story that fails does not hang
            return build(*args, **kwargs)

        return held

    async def reached(self) -> None:
        """Until the build is inside the gate (waited for in a thread: the loop stays free)."""
        assert await asyncio.to_thread(self.entered.wait, 10)


async def _locate(api, lat: float, lng: float):
    return await api.street.get("/api/v1/grid/locate", params={"lat": lat, "lng": lng})


async def _live_codes(grid_app) -> set[str]:
    async with grid_app.state.database.transaction(write=False) as session:
        return set(await repository.live_cell_versions(session))


async def test_phones_are_answered_while_the_whole_index_is_built_again(
    api, new_community, spot, grid_app, state, monkeypatch
):
    community = await new_community()
    lat, lng = spot
    cell = await make_cell(api, community, lat, lng)
    await state.settled()
    gate = Gate()
    monkeypatch.setattr(CellIndex, "build", classmethod(gate.wrap(CellIndex.build.__func__)))
    try:
        rebuild = asyncio.ensure_future(state.rebuild(grid_app.state.database))
        await gate.reached()
        answered = await _locate(api, lat + 0.001, lng + 0.001)
        # The phone had its answer, from the index in hand, while the build was held.
        assert not rebuild.done()
        assert answered.json()["code"] == cell["code"]
    finally:
        gate.open.set()
    await rebuild
    assert (await _locate(api, lat + 0.001, lng + 0.001)).json()["code"] == cell["code"]


async def test_a_drawn_moved_or_deleted_cell_is_found_at_once_while_the_index_is_built(
    api, new_community, spot, state, monkeypatch
):
    community = await new_community()
    lat, lng = spot
    gate = Gate()
    monkeypatch.setattr(CellIndex, "compacted", gate.wrap(CellIndex.compacted))
    try:
        cell = await make_cell(api, community, lat, lng)
        await gate.reached()
        # The build that folds the new cell in is held; the cell is found all the same.
        assert (await _locate(api, lat + 0.001, lng + 0.001)).json()["code"] == cell["code"]
        assert cell["code"] in state.index.changed

        moved = await api.admin.patch(
            f"/api/v1/grid/cells/{cell['code']}", json={"boundary": square(lat + 0.004, lng)}
        )
        assert moved.status_code == 200, moved.text
        assert_problem(await _locate(api, lat + 0.001, lng + 0.001), 404, "cell.none_here")
        assert (await _locate(api, lat + 0.005, lng + 0.001)).json()["code"] == cell["code"]

        renamed = await api.admin.patch(f"/api/v1/grid/cells/{cell['code']}", json={"name": "新名"})
        assert renamed.status_code == 200, renamed.text
        assert (await _locate(api, lat + 0.005, lng + 0.001)).json()["name"] == "新名"
    finally:
        gate.open.set()
    index = await state.settled()
    assert not index.changed  # folded into one built layer
    assert (await _locate(api, lat + 0.005, lng + 0.001)).json()["code"] == cell["code"]

    assert (await api.admin.delete(f"/api/v1/grid/cells/{cell['code']}")).status_code == 204
    assert_problem(await _locate(api, lat + 0.005, lng + 0.001), 404, "cell.none_here")
    assert (await state.settled()).cell(cell["code"]) is None


async def test_a_burst_of_changes_ends_in_one_more_build_and_a_correct_index(
    api, new_community, spot, grid_app, state, monkeypatch
):
    community = await new_community()
    lat, lng = spot
    first = await make_cell(api, community, lat, lng, size=0.001)
    await state.settled()
    gate = Gate()
    monkeypatch.setattr(CellIndex, "compacted", gate.wrap(CellIndex.compacted))
    try:
        await api.admin.patch(f"/api/v1/grid/cells/{first['code']}", json={"name": "一"})
        await gate.reached()  # the first change's build is running (and held)
        drawn = await asyncio.gather(
            *(
                api.admin.post(
                    "/api/v1/grid/cells",
                    json={
                        "community_code": community,
                        "name": f"网格{i}",
                        "boundary": square(lat + 0.002, lng + i * 0.0015, 0.001),
                    },
                )
                for i in range(6)
            )
        )
        assert [r.status_code for r in drawn] == [201] * 6, [r.text for r in drawn]
        codes = [r.json()["code"] for r in drawn]
        deleted = await api.admin.delete(f"/api/v1/grid/cells/{codes[0]}")
        assert deleted.status_code == 204
        moved = await api.admin.patch(
            f"/api/v1/grid/cells/{codes[1]}",
            json={"boundary": square(lat + 0.004, lng, 0.001)},
        )
        assert moved.status_code == 200, moved.text
    finally:
        gate.open.set()
    index = await state.settled()
    assert gate.calls == 2  # the held build, then one for all that came while it ran
    assert not index.changed
    assert set(index.cells) == await _live_codes(grid_app)
    assert index.locate(lat + 0.0025, lng + 0.0005) is None  # deleted
    assert index.locate(lat + 0.0025, lng + 0.002) is None  # moved away
    assert index.locate(lat + 0.0045, lng + 0.0005) == codes[1]
    for i, code in enumerate(codes[2:], start=2):
        assert index.locate(lat + 0.0025, lng + i * 0.0015 + 0.0005) == code
    assert index.cell(first["code"]).name == "一"


async def test_a_cell_drawn_beside_a_replica_whose_clock_runs_ahead_still_arrives(
    api, new_community, spot, grid_app, state, monkeypatch
):
    """One replica's clock runs a day ahead and stamped a cell so; a cell another replica
    draws now is older than that stamp, yet this one's poll brings it in."""
    community = await new_community()
    lat, lng = spot
    first = await make_cell(api, community, lat, lng, size=0.001)
    ahead = clock.now() + timedelta(days=1)
    async with grid_app.state.database.transaction() as session:
        session.add(
            Cell(
                code=f"{community}{901:03d}",
                community_code=community,
                name="时钟快的副本画的",
                kind="comprehensive",
                boundary=square(lat + 0.008, lng, 0.001),
                updated_at=ahead,
            )
        )
    monkeypatch.setattr(state, "polled_at", -1e9)
    await _locate(api, lat + 0.0005, lng + 0.0005)
    await state.settled()
    drawn = f"{community}{902:03d}"
    async with grid_app.state.database.transaction() as session:
        session.add(
            Cell(
                code=drawn,
                community_code=community,
                name="刚画的",
                kind="comprehensive",
                boundary=square(lat + 0.004, lng, 0.001),
            )
        )
        # ...as one is deleted: as many live cells as before, and no later time.
        row = await session.get(Cell, first["code"])
        row.deleted_at = row.updated_at = clock.now()
    monkeypatch.setattr(state, "polled_at", -1e9)
    await _locate(api, lat + 0.0005, lng + 0.0005)
    index = await state.settled()
    assert index.locate(lat + 0.0045, lng + 0.0005) == drawn
    assert index.locate(lat + 0.0005, lng + 0.0005) is None


async def test_cells_another_process_changes_arrive_with_the_poll(
    api, new_community, spot, grid_app, state, monkeypatch
):
    """Another replica writes the table; this one's phones are answered from the index in
    hand, and the poll after ``INDEX_TTL_S`` brings the changes in, in the background."""
    community = await new_community()
    lat, lng = spot
    kept = await make_cell(api, community, lat, lng, size=0.001)
    moved = await make_cell(api, community, lat, lng + 0.002, size=0.001)
    gone = await make_cell(api, community, lat, lng + 0.004, size=0.001)
    await state.settled()
    elsewhere = f"{community}{900:03d}"
    later = clock.now() + timedelta(seconds=1)
    async with grid_app.state.database.transaction() as session:
        session.add(
            Cell(
                code=elsewhere,
                community_code=community,
                name="别处画的",
                kind="comprehensive",
                boundary=square(lat + 0.004, lng, 0.001),
            )
        )
        row = await session.get(Cell, moved["code"])
        row.boundary, row.updated_at = square(lat + 0.006, lng, 0.001), later
        row = await session.get(Cell, gone["code"])
        row.deleted_at = row.updated_at = later

    # Within the TTL nothing is read: the index in hand answers.
    monkeypatch.setattr(state, "polled_at", math.inf)
    assert (await _locate(api, lat + 0.0045, lng + 0.0005)).status_code == 404
    monkeypatch.setattr(state, "polled_at", -1e9)  # the TTL has passed
    assert (await _locate(api, lat + 0.0005, lng + 0.0005)).json()["code"] == kept["code"]
    index = await state.settled()
    assert index.locate(lat + 0.0045, lng + 0.0005) == elsewhere
    assert index.locate(lat + 0.0005, lng + 0.0025) is None
    assert index.locate(lat + 0.0065, lng + 0.0005) == moved["code"]
    assert index.locate(lat + 0.0005, lng + 0.0045) is None
    assert index.cell(elsewhere).name == "别处画的"
    assert not index.changed
    assert set(index.cells) == await _live_codes(grid_app)

    # A change committed long after its stamp, behind a newer one: the count and the latest
    # stamp stay as they were, and the full comparison of the minute finds it.
    async with grid_app.state.database.transaction() as session:
        row = await session.get(Cell, kept["code"])
        row.boundary, row.updated_at = square(lat + 0.008, lng, 0.001), later - timedelta(hours=1)
    monkeypatch.setattr(state, "polled_at", -1e9)
    await _locate(api, lat + 0.0005, lng + 0.0005)
    assert (await state.settled()).locate(lat + 0.0085, lng + 0.0005) is None
    monkeypatch.setattr(state, "polled_at", -1e9)
    monkeypatch.setattr(state, "scanned_at", -1e9)  # INDEX_SCAN_S has passed
    await _locate(api, lat + 0.0005, lng + 0.0005)
    assert (await state.settled()).locate(lat + 0.0085, lng + 0.0005) == kept["code"]


async def test_a_grid_process_just_started_answers_kpis_without_waiting_for_its_index(
    api, grid_app, state, monkeypatch
):
    """The KPIs count on the working calendar, not on the cells: a process that has just
    started reads its holidays and answers, while its first index is built off the request;
    the index is there once the build is let go."""
    from services.grid.service.state import GridState

    fresh = GridState(grid_app.state.settings)
    grid_app.state.grid = fresh
    gate = Gate()
    monkeypatch.setattr(CellIndex, "build", classmethod(gate.wrap(CellIndex.build.__func__)))
    try:
        r = await api.admin.get(
            "/api/v1/grid/cases/kpis",
            params={"area": "410105", "period": str(clock.today().year), "group_by": "street"},
        )
        assert r.status_code == 200, r.text
        assert fresh.calendar is not None and not fresh.loaded
        await gate.reached()  # the first build began meanwhile, off the request
    finally:
        gate.open.set()
        grid_app.state.grid = state
    await fresh.settled()
    assert fresh.loaded and fresh.index.cells
