"""A resident whose registration waited for review hears the outcome in their inbox, with
the reason a worker gave, and reads why it waited in Chinese."""

from __future__ import annotations

from tests.factories import staff_account, volunteer


async def test_the_resident_hears_whether_they_were_approved_or_rejected_and_why(
    api, new_community
):
    community = await new_community()
    manager = await staff_account(api, "community_admin", community, "张主任")
    accepted, first = await volunteer(api, community, matched=False, name="孙一")
    refused, second = await volunteer(api, community, matched=False, name="孙二")
    assert first["review_reason_name"] == "未在居民登记中找到"
    mine = (await accepted.get("/api/v1/volunteer/volunteers/me")).json()
    assert mine["review_reason_name"] == "未在居民登记中找到"

    r = await manager.post(f"/api/v1/volunteer/volunteers/{first['id']}/approve")
    assert r.status_code == 200, r.text
    r = await manager.post(
        f"/api/v1/volunteer/volunteers/{second['id']}/reject", json={"reason": "非本社区居民"}
    )
    assert r.status_code == 200 and r.json()["review_note"] == "非本社区居民", r.text

    [yes] = (await accepted.get("/api/v1/notifications")).json()["items"]
    assert yes["kind"] == "volunteer_approved" and "通过" in yes["title"]
    [no] = (await refused.get("/api/v1/notifications")).json()["items"]
    assert no["kind"] == "volunteer_rejected" and "非本社区居民" in no["body"]
    mine = (await refused.get("/api/v1/volunteer/volunteers/me")).json()
    assert (mine["status"], mine["review_note"]) == ("rejected", "非本社区居民")
