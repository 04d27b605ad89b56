"""A resident whose registration waited for review hears the outcome in their inbox, with
the reason a worker gave, and reads why it waited in Chinese."""

from __future__ import annotations

from tests.factories import STREET_A, staff_account, volunteer


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


async def reviews_about(caller, volunteer_id: str) -> list[dict]:
    r = await caller.get("/api/v1/notifications")
    assert r.status_code == 200, r.text
    return [
        n
        for n in r.json()["items"]
        if n["kind"] == "volunteer_review" and n["subject_id"] == volunteer_id
    ]


async def test_a_registration_to_review_goes_to_its_community_not_the_street(api, new_community):
    """The community's worker reviews its own volunteers; the street office is not asked
    about every registration of every community under it."""
    community = await new_community(STREET_A)
    worker = await staff_account(api, "community_admin", community, "李主任")
    street = await staff_account(api, "street_admin", STREET_A, "街道王")
    _, pending = await volunteer(api, community, matched=False, name="周一")

    assert len(await reviews_about(worker, pending["id"])) == 1
    assert await reviews_about(street, pending["id"]) == []


async def test_the_street_reviews_for_a_community_with_no_worker_yet(api, new_community):
    community = await new_community(STREET_A)
    street = await staff_account(api, "street_admin", STREET_A, "街道王")
    _, pending = await volunteer(api, community, matched=False, name="周二")

    [asked] = await reviews_about(street, pending["id"])
    assert "周二" in asked["body"]
