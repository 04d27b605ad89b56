"""A resident on WeChat after registering: their account knows the resident the registry
matched, they join an open team themselves and see their teams, and a phone that is not
the registry's is looked at by a person before the record is active."""

from __future__ import annotations

from tests.factories import resident_in_registry, staff_account, volunteer
from tests.support import assert_problem, make_id_number


async def test_a_matched_volunteer_is_linked_to_their_resident_on_me(api, new_community):
    community = await new_community()
    caller, record = await volunteer(api, community)
    me = (await caller.get("/api/v1/me")).json()
    assert me["resident_id"] is not None
    r = await api.admin.get(f"/api/v1/registry/residents/{me['resident_id']}")
    assert r.status_code == 200 and r.json()["community_code"] == community


async def test_a_volunteer_joins_an_open_team_and_sees_it_on_their_record(api, new_community):
    community = await new_community()
    caller, record = await volunteer(api, community)
    r = await api.admin.post(
        "/api/v1/volunteer/teams",
        json={"community_code": community, "name": "助老服务队", "kind": "elderly_care"},
    )
    assert r.status_code == 201, r.text
    team = r.json()
    assert team["joining"] == "open"
    closed = await api.admin.post(
        "/api/v1/volunteer/teams",
        json={
            "community_code": community,
            "name": "应急队",
            "kind": "patrol",
            "joining": "invited",
        },
    )
    assert closed.status_code == 201, closed.text

    joined = await caller.post(f"/api/v1/volunteer/teams/{team['id']}/join")
    assert joined.status_code == 200, joined.text
    assert joined.json()["members"] == 1
    again = await caller.post(f"/api/v1/volunteer/teams/{team['id']}/join")
    assert again.status_code == 200 and again.json()["members"] == 1  # a retry adds nobody
    mine = (await caller.get("/api/v1/volunteer/volunteers/me")).json()
    assert [t["name"] for t in mine["teams"]] == ["助老服务队"]

    refused = await caller.post(f"/api/v1/volunteer/teams/{closed.json()['id']}/join")
    assert_problem(refused, 403, "team.invitation_only")

    other = await new_community()
    elsewhere = await api.admin.post(
        "/api/v1/volunteer/teams",
        json={"community_code": other, "name": "别处的队", "kind": "youth"},
    )
    assert_problem(await caller.post(f"/api/v1/volunteer/teams/{elsewhere.json()['id']}/join"), 404)

    left = await caller.post(f"/api/v1/volunteer/teams/{team['id']}/leave")
    assert left.status_code == 200 and left.json()["members"] == 0
    assert (await caller.get("/api/v1/volunteer/volunteers/me")).json()["teams"] == []


async def test_a_phone_that_is_not_the_registrys_waits_for_review(api, new_community):
    community = await new_community()
    number = make_id_number()
    r = await api.admin.post(
        "/api/v1/registry/residents",
        json={
            "name": "志愿者",
            "id_number": number,
            "phone": "13911112222",
            "community_code": community,
        },
    )
    assert r.status_code == 201, r.text
    someone = await api.resident()
    r = await someone.post(
        "/api/v1/volunteer/volunteers",
        json={
            "name": "志愿者",
            "id_number": number,
            "phone": "13700009999",
            "community_code": community,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending" and r.json()["review_reason"] == "phone_differs"

    # The same phone as the registry's: active at once.
    same = await resident_in_registry(api, community)
    r = await api.admin.get("/api/v1/registry/residents", params={"community": community})
    assert r.status_code == 200
    owner = await api.resident()
    r = await owner.post(
        "/api/v1/volunteer/volunteers",
        json={
            "name": "志愿者",
            "id_number": same,
            "phone": "13700001234",
            "community_code": community,
        },
    )
    assert r.json()["status"] == "active" and r.json()["review_reason"] is None


async def test_what_a_resident_does_after_registering_is_kept_under_their_name(api, new_community):
    """A WeChat account has no name of its own: the registration's name becomes the
    account's, so histories say who withdrew, not a blank."""
    community = await new_community()
    caller, record = await volunteer(api, community, name="赵一曼")
    me = (await caller.get("/api/v1/me")).json()
    assert me["display_name"] == "赵一曼"
    caller = await api.resident(caller.openid)  # the next login carries the name
    assert (await caller.post("/api/v1/volunteer/volunteers/me/withdraw")).is_success
    r = await api.admin.get(f"/api/v1/volunteer/volunteers/{record['id']}/history")
    assert r.status_code == 200, r.text
    [withdrawn] = [e for e in r.json()["items"] if e["action"] == "withdrawn"]
    assert withdrawn["actor_name"] == "赵一曼"


async def test_a_staff_account_without_a_display_name_is_named_by_its_username(api, new_community):
    community = await new_community()
    worker = await staff_account(api, "community_admin", community)
    r = await worker.post(
        "/api/v1/registry/residents",
        json={"name": "钱二", "id_number": make_id_number(), "community_code": community},
    )
    assert r.status_code == 201, r.text
    r = await worker.get(f"/api/v1/registry/residents/{r.json()['id']}/history")
    [created] = r.json()["items"]
    assert created["actor_name"] == worker.username


async def test_a_volunteer_not_approved_is_told_so_when_joining_a_team(api, new_community):
    """Waiting for review, rejected or withdrawn: joining a team of their own community is
    refused with the registration's status in Chinese, not a 404 that says the team is gone.
    Once approved, the same tap joins."""
    community = await new_community()
    worker = await staff_account(api, "community_admin", community, "张社工")
    r = await worker.post(
        "/api/v1/volunteer/teams",
        json={"community_code": community, "name": "助老服务队", "kind": "elderly_care"},
    )
    assert r.status_code == 201, r.text
    team = r.json()["id"]

    waiting, pending = await volunteer(api, community, matched=False)
    refused, rejected = await volunteer(api, community, matched=False)
    r = await worker.post(
        f"/api/v1/volunteer/volunteers/{rejected['id']}/reject", json={"reason": "信息不符"}
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    leaving, _ = await volunteer(api, community)
    assert (await leaving.post("/api/v1/volunteer/volunteers/me/withdraw")).is_success

    for caller, status_zh in ((waiting, "待审核"), (refused, "未通过审核"), (leaving, "已退出")):
        body = assert_problem(
            await caller.post(f"/api/v1/volunteer/teams/{team}/join"),
            409,
            "volunteer.not_approved",
        )
        assert status_zh in body["detail"] and "服务队" in body["detail"], body
    english = assert_problem(
        await waiting.post(
            f"/api/v1/volunteer/teams/{team}/join", headers={"Accept-Language": "en"}
        ),
        409,
        "volunteer.not_approved",
    )
    assert "pending" in english["detail"] and "team" in english["detail"], english

    r = await worker.post(f"/api/v1/volunteer/volunteers/{pending['id']}/approve")
    assert r.status_code == 200, r.text
    joined = await waiting.post(f"/api/v1/volunteer/teams/{team}/join")
    assert joined.status_code == 200 and joined.json()["members"] == 1, joined.text
