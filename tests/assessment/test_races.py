"""Publishing and applying at the same moment: on PostgreSQL the requests really interleave
(SQLite serialises writers), and the outcome must be the one some order of them one by one
gives."""

from __future__ import annotations

import asyncio

from tests.factories import YEAR, staff_account
from tests.support import assert_problem


async def test_scores_published_at_once_get_one_version_each(api, new_community):
    """Two street workers press "publish" together: versions 1 and 2, no error."""
    community = await new_community()
    body = {"area": community, "period": f"{YEAR}Q2"}
    answers = await asyncio.gather(
        *(api.street.post("/api/v1/assessment/scores/publish", json=body) for _ in range(4))
    )
    assert [r.status_code for r in answers] == [201] * 4, [r.text for r in answers]
    assert sorted(r.json()["version"] for r in answers) == [1, 2, 3, 4]
    latest = await api.street.get(
        "/api/v1/assessment/scores", params={"area": community, "period": f"{YEAR}Q2"}
    )
    assert latest.json()["version"] == 4, latest.text


async def test_one_open_application_even_when_two_are_sent_at_once(api, new_community):
    community = await new_community()
    worker = await staff_account(api, "community_admin", community)
    body = {"community_code": community, "year": YEAR, "statement": "申报示范社区"}
    answers = await asyncio.gather(
        *(worker.post("/api/v1/assessment/applications", json=body) for _ in range(5))
    )
    created = [r for r in answers if r.status_code == 201]
    assert len(created) == 1, [r.text for r in answers]
    for r in answers:
        if r.status_code != 201:
            problem = assert_problem(r, 409, "application.open_exists")
            assert problem["application_id"] == created[0].json()["id"]
    page = (await worker.get("/api/v1/assessment/applications", params={"year": YEAR})).json()
    assert [a["id"] for a in page["items"]] == [created[0].json()["id"]]
