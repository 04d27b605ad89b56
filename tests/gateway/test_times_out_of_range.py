"""Times no user means: year 1 or 9999 (a phone's broken clock, a typed year), sent with
Beijing's or any offset. They overflowed on their way to UTC, a 500 that also closed the
phone's connection; and a year before 1901 came back in Shanghai's old local mean time
(+08:05:43), a time nobody typed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from services.grid.models import Visit
from tests.factories import populate, setup_cell
from tests.support import assert_problem

OUT_OF_RANGE = [
    "0001-01-01T00:00:00+08:00",
    "0001-01-01T00:00:00Z",
    "0202-12-05T10:00:00+08:00",
    "1900-01-01T10:00:00+08:00",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:00:00",
]


@pytest.mark.parametrize("when", OUT_OF_RANGE)
async def test_a_visit_at_a_time_nobody_means_is_a_422_naming_the_field(
    api, new_community, spot, worker, when
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    _, households, _ = await populate(api, cell, point)
    r = await grid.post(
        "/api/v1/grid/visits", json={"household_id": households[0], "visited_at": when}
    )
    problem = assert_problem(r, 422)
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("visited_at", "time_out_of_range")
    ], r.text
    assert "年份" in problem["errors"][0]["message"]
    # the connection is still good: the next request on it is answered
    assert (await grid.get("/api/v1/grid/my-work")).status_code == 200


async def test_an_activity_in_the_year_9999_is_a_422(api, new_community):
    community = await new_community()
    r = await api.admin.post(
        "/api/v1/volunteer/activities",
        json={
            "community_code": community,
            "title": "清理楼道",
            "category": "environment",
            "start_at": "9999-12-31T23:00:00-12:00",
            "end_at": "9999-12-31T23:30:00-12:00",
            "capacity": 10,
        },
    )
    problem = assert_problem(r, 422)
    assert {e["code"] for e in problem["errors"]} == {"time_out_of_range"}, r.text


async def test_half_a_point_is_refused_not_dropped(api, new_community, spot, worker):
    """An activity sent with its lat and no lng was created with no place at all (and so no
    geofence); a visit likewise lost its point. Both coordinates or neither."""
    community = await new_community()
    r = await api.admin.post(
        "/api/v1/volunteer/activities",
        json={
            "community_code": community,
            "title": "清理楼道",
            "category": "environment",
            "start_at": "2030-05-01T09:00:00+08:00",
            "end_at": "2030-05-01T11:00:00+08:00",
            "capacity": 10,
            "lat": 34.78,
        },
    )
    problem = assert_problem(r, 422)
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("lng", "missing")], r.text
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    _, households, _ = await populate(api, cell, point)
    r = await grid.post(
        "/api/v1/grid/visits",
        json={
            "household_id": households[0],
            "visited_at": "2026-01-05T10:00:00+08:00",
            "lng": point[1],
        },
    )
    problem = assert_problem(r, 422)
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("lat", "missing")], r.text


async def test_a_time_kept_before_the_bound_is_still_shown(app, api, new_community, spot, worker):
    """The bound is on what callers send. A visit an earlier release took at year 0202 (the
    typo the bound now refuses) is still in the database: its cell's list is answered,
    with it in it, not a 500."""
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    _, households, _ = await populate(api, cell, point)
    r = await grid.post(
        "/api/v1/grid/visits",
        json={"household_id": households[0], "visited_at": "2026-01-05T10:00:00+08:00"},
    )
    assert r.status_code == 201, r.text
    grid_app = next(sub for sub in app.state.embedded_apps if sub.state.component == "grid")
    async with grid_app.state.database.transaction() as session:
        await session.execute(
            update(Visit)
            .where(Visit.id == r.json()["id"])
            .values(visited_at=datetime(202, 12, 5, 2, 0, tzinfo=UTC))
        )
    listed = await grid.get("/api/v1/grid/visits", params={"cell": cell["code"]})
    assert listed.status_code == 200, listed.text
    [visit] = listed.json()["items"]
    assert visit["visited_at"].startswith("0202-12-05")
