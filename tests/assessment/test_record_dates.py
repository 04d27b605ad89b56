"""A unit's contact records what the unit did: on a day inside the agreement's term, and
not on a day still to come (counted in Beijing, where it is already tomorrow at 00:30)."""

from __future__ import annotations

from datetime import date, timedelta

from services.common.clock import clock
from tests.factories import YEAR, active_agreement
from tests.support import assert_problem


async def test_a_record_outside_the_term_or_in_the_future_is_refused(api, new_community):
    community = await new_community()
    _, contact, agreement = await active_agreement(api, community)
    pledge = agreement["pledges"][0]["id"]

    async def record(day: date):
        return await contact.post(
            f"/api/v1/assessment/agreements/{agreement['id']}/records",
            json={
                "pledge_id": pledge,
                "day": day.isoformat(),
                "quantity": 1,
                "description": "义诊",
            },
        )

    before = assert_problem(await record(date(YEAR - 1, 12, 31)), 422)
    assert before["errors"][0]["field"] == "day" and before["errors"][0]["code"] == "outside_term"
    assert "协议期" in before["errors"][0]["message"]  # a sentence a unit's contact reads
    tomorrow = clock.today() + timedelta(days=1)
    if tomorrow.year == YEAR:
        future = assert_problem(await record(tomorrow), 422)
        assert future["errors"][0] == {
            "field": "day",
            "code": "in_future",
            "message": future["errors"][0]["message"],
        }
    assert (await record(clock.today())).status_code == 201
