"""Cells drawn at the same moment: on PostgreSQL the requests really interleave (SQLite
serialises writers), and the outcome must be the one some order of them one by one gives."""

from __future__ import annotations

import asyncio

from services.grid.service import cells
from tests.factories import square
from tests.support import assert_problem


def _cell(community: str, lat: float, lng: float, size: float = 0.001) -> dict:
    return {"community_code": community, "name": "网格", "boundary": square(lat, lng, size)}


async def test_cells_drawn_at_once_each_get_a_code_of_their_own(api, new_community, spot):
    community = await new_community()
    lat, lng = spot
    answers = await asyncio.gather(
        *(
            api.admin.post("/api/v1/grid/cells", json=_cell(community, lat, lng + i * 0.001))
            for i in range(8)
        )
    )
    assert [r.status_code for r in answers] == [201] * 8, [r.text for r in answers]
    codes = sorted(r.json()["code"] for r in answers)
    assert codes == [f"{community}{n:03d}" for n in range(1, 9)]


async def test_two_overlapping_cells_drawn_at_once_one_is_refused(api, new_community, spot):
    community = await new_community()
    lat, lng = spot
    for trial in range(3):
        answers = await asyncio.gather(
            *(
                api.admin.post(
                    "/api/v1/grid/cells",
                    json=_cell(community, lat + trial * 0.003 + i * 0.0002, lng),
                )
                for i in range(5)
            )
        )
        created = [r for r in answers if r.status_code == 201]
        assert len(created) == 1, [r.text for r in answers]
        for r in answers:
            if r.status_code != 201:
                assert_problem(r, 409, "cell.overlaps")


async def test_a_new_cell_is_found_by_locate_as_soon_as_its_201_arrives(
    api, new_community, spot, monkeypatch
):
    """Phones keep asking /locate while a cell is drawn; once the 201 is back, a point
    inside the new cell is found, never a moment's 404. The index must not wait for the
    cell's event: in the split mode it comes later, through the broker, so here it does not
    come at all."""

    async def later(app, community_code):
        return 0

    monkeypatch.setattr(cells, "reassign_buildings", later)
    community = await new_community()
    lat, lng = spot
    elsewhere = {"lat": lat + 0.009, "lng": lng + 0.009}
    drawing = asyncio.Event()
    asked = 0

    async def phone() -> None:
        """Asks /locate every few milliseconds, as a crowd of phones in the cell's street
        would: the index is read (and rebuilt) all the while the cells are drawn. Paced, as
        requests from the network are: a loop kept busy every instant by its own client
        starves the threads that answer SQLite (each waits for the GIL the loop retakes at
        every turn), which no served process sees."""
        nonlocal asked
        while not drawing.is_set():
            await api.admin.get("/api/v1/grid/locate", params=elsewhere)
            asked += 1
            await asyncio.sleep(0.002)

    phones = [asyncio.ensure_future(phone()) for _ in range(3)]
    try:
        for i in range(8):
            corner = (lat + (i // 4) * 0.002, lng + (i % 4) * 0.002)
            before = asked
            created = await api.admin.post(
                "/api/v1/grid/cells", json=_cell(community, *corner, size=0.0015)
            )
            assert created.status_code == 201, (i, created.text)
            assert asked > before  # the phones were answered while the cell was drawn
            found = await api.admin.get(
                "/api/v1/grid/locate",
                params={"lat": corner[0] + 0.0007, "lng": corner[1] + 0.0007},
            )
            assert found.status_code == 200, (i, found.text)
            assert found.json()["code"] == created.json()["code"]
    finally:
        drawing.set()
        await asyncio.gather(*phones)
