"""Cells drawn at the same moment: on PostgreSQL the requests really interleave (SQLite
serialises writers), and the outcome must be the one some order of them one by one gives."""

from __future__ import annotations

import asyncio

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
