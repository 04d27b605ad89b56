"""Publishing and applying at the same moment: on PostgreSQL the requests really interleave
(SQLite serialises writers), and the outcome must be the one some order of them one by one
gives."""

from __future__ import annotations

import asyncio

from tests.factories import YEAR


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
