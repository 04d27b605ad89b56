"""A worker who approves a registration may say how it was checked, as one who rejects says
why, and the note stays on the volunteer."""

from __future__ import annotations

from tests.factories import staff_account, volunteer


async def test_a_worker_approves_with_a_note_of_how_the_registration_was_checked(
    api, new_community
):
    community = await new_community()
    manager = await staff_account(api, "community_admin", community, "张主任")
    resident, pending = await volunteer(api, community, matched=False, name="孙三")

    r = await manager.post(
        f"/api/v1/volunteer/volunteers/{pending['id']}/approve", json={"note": "已电话核实"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["review_note"]) == ("active", "已电话核实")
    mine = (await resident.get("/api/v1/volunteer/volunteers/me")).json()
    assert (mine["status"], mine["review_note"]) == ("active", "已电话核实")


async def test_a_rejection_may_say_why_as_a_note_too(api, new_community):
    community = await new_community()
    manager = await staff_account(api, "community_admin", community, "张主任")
    _, pending = await volunteer(api, community, matched=False, name="孙四")
    r = await manager.post(
        f"/api/v1/volunteer/volunteers/{pending['id']}/reject", json={"note": "非本社区居民"}
    )
    assert r.status_code == 200 and r.json()["review_note"] == "非本社区居民", r.text
