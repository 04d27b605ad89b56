"""The organiser takes the roll from the sign-up list: each row names the volunteer, their
number and their phone, masked as everywhere a worker reads it."""

from __future__ import annotations

from tests.factories import activity, staff_account, volunteer


async def test_the_organiser_reads_who_signed_up_by_name_number_and_phone(api, new_community):
    community = await new_community()
    organiser = await staff_account(api, "community_admin", community, "赵主任")
    event = await activity(api, community, capacity=1)
    first, one = await volunteer(api, community, name="钱一")
    second, two = await volunteer(api, community, name="钱二")
    url = f"/api/v1/volunteer/activities/{event['id']}/signups"
    assert (await first.post(url)).status_code == 201
    assert (await second.post(url)).status_code == 201  # waitlisted

    r = await organiser.get(url, params={"limit": 1})
    assert r.status_code == 200, r.text
    [row] = r.json()["items"]
    assert (row["volunteer_name"], row["volunteer_number"]) == ("钱一", one["number"])
    assert row["volunteer_phone"] == one["phone"] == "137****1234"
    r = await organiser.get(url, params={"cursor": r.json()["next_cursor"]})
    [row] = r.json()["items"]
    assert (row["volunteer_name"], row["status"], row["waitlist_rank"]) == ("钱二", "waitlisted", 1)
    assert row["volunteer_number"] == two["number"] and r.json()["next_cursor"] is None
