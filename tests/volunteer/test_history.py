"""What changed in the volunteer service: who approved a volunteer, who joined a team, who
cancelled an activity — by name, in Beijing time, personal data masked; the history of a
record outside the caller's scope is a 404."""

from __future__ import annotations

from tests.factories import STREET_B, activity, staff_account, volunteer
from tests.support import assert_problem, changes_of


async def test_volunteers_teams_and_activities_keep_who_changed_them(api, new_community):
    community = await new_community()
    worker = await staff_account(api, "community_admin", community, "张社工")
    caller, pending = await volunteer(api, community, matched=False, name="李志愿")
    assert pending["status"] == "pending"
    r = await worker.post(f"/api/v1/volunteer/volunteers/{pending['id']}/approve")
    assert r.status_code == 200, r.text

    # The volunteer reads their own record's history: who approved them, by name.
    r = await caller.get(f"/api/v1/volunteer/volunteers/{pending['id']}/history")
    assert r.status_code == 200, r.text
    assert "13700001234" not in r.text
    approved, registered = r.json()["items"]
    assert (approved["action"], approved["actor_name"]) == ("approved", "张社工")
    assert changes_of(approved) == [{"field": "status", "old": "pending", "new": "active"}]
    assert approved["at"].endswith("+08:00")
    [status] = approved["changes"]
    assert (approved["action_name"], status["field_name"]) == ("审核通过", "状态")
    assert (status["old_name"], status["new_name"]) == ("待审核", "有效")
    fields = {c["field"]: c["new"] for c in registered["changes"]}
    assert registered["action"] == "registered"
    assert fields["phone"] == "137****1234" and "*" in fields["id_number"]

    # A team the worker makes, joined by the volunteer themselves.
    r = await worker.post(
        "/api/v1/volunteer/teams",
        json={"community_code": community, "name": "助老服务队", "kind": "elderly_care"},
    )
    team = r.json()["id"]
    assert (await caller.post(f"/api/v1/volunteer/teams/{team}/join")).status_code == 200
    assert (await caller.post(f"/api/v1/volunteer/teams/{team}/join")).status_code == 200
    r = await worker.get(f"/api/v1/volunteer/teams/{team}/history")
    assert r.status_code == 200, r.text
    joined, created = r.json()["items"]  # the second join changed nothing
    assert joined["action"] == "joined" and joined["actor_id"] != created["actor_id"]
    assert changes_of(joined) == [
        {"field": "members", "old": [], "new": [f"李志愿 ({pending['id']})"]}
    ]
    assert created["actor_name"] == "张社工"
    assert (joined["action_name"], joined["changes"][0]["field_name"]) == ("加入", "队员")
    kind = next(c for c in created["changes"] if c["field"] == "kind")
    assert (kind["field_name"], kind["new_name"]) == ("队伍类型", "为老服务队")

    # An activity organised and cancelled.
    event = await activity(api, community)
    r = await worker.post(f"/api/v1/volunteer/activities/{event['id']}/cancel")
    assert r.status_code == 200, r.text
    r = await worker.get(f"/api/v1/volunteer/activities/{event['id']}/history")
    cancelled, organised = r.json()["items"]
    assert (cancelled["action"], cancelled["actor_name"]) == ("cancelled", "张社工")
    assert changes_of(cancelled) == [{"field": "status", "old": "published", "new": "cancelled"}]
    assert organised["action"] == "created" and organised["actor_name"]

    other = await staff_account(api, "street_admin", STREET_B[:9], "花园路街道办")
    for path in (
        f"volunteers/{pending['id']}",
        f"teams/{team}",
        f"activities/{event['id']}",
    ):
        assert_problem(await other.get(f"/api/v1/volunteer/{path}/history"), 404)


async def test_a_teams_history_names_its_members_and_leader(api, new_community):
    """The worker sets a team's members and leader, then changes them: the history reads
    who came and went by name, each with their volunteer id beside it."""
    community = await new_community()
    worker = await staff_account(api, "community_admin", community, "张社工")
    _, wang = await volunteer(api, community, name="王芳")
    _, li = await volunteer(api, community, name="李强")
    _, zhao = await volunteer(api, community, name="赵敏")
    r = await worker.post(
        "/api/v1/volunteer/teams",
        json={"community_code": community, "name": "巡逻队", "kind": "patrol"},
    )
    team = r.json()["id"]
    r = await worker.put(
        f"/api/v1/volunteer/teams/{team}/members",
        json={"volunteer_ids": [wang["id"], li["id"]], "leader_id": wang["id"]},
    )
    assert r.status_code == 200, r.text
    r = await worker.put(
        f"/api/v1/volunteer/teams/{team}/members",
        json={"volunteer_ids": [li["id"], zhao["id"]], "leader_id": zhao["id"]},
    )
    assert r.status_code == 200, r.text

    r = await worker.get(f"/api/v1/volunteer/teams/{team}/history")
    assert r.status_code == 200, r.text
    second, first, created = r.json()["items"]
    assert created["action"] == "created"
    assert {c["field"]: c["new"] for c in created["changes"]}["members"] == []
    assert (first["action"], first["actor_name"]) == ("members_set", "张社工")
    named = {
        "wang": f"王芳 ({wang['id']})",
        "li": f"李强 ({li['id']})",
        "zhao": f"赵敏 ({zhao['id']})",
    }
    assert changes_of(first) == [
        {"field": "leader", "old": None, "new": named["wang"]},
        {"field": "members", "old": [], "new": [named["li"], named["wang"]]},
    ]
    assert changes_of(second) == [
        {"field": "leader", "old": named["wang"], "new": named["zhao"]},
        {
            "field": "members",
            "old": [named["li"], named["wang"]],
            "new": [named["li"], named["zhao"]],
        },
    ]


async def test_a_resident_acting_for_themselves_is_named_before_they_log_in_again(
    api, new_community
):
    """Straight after registering, on the same WeChat login: the registration and the
    withdrawal name the resident (their token was issued before they had a name), and the
    resident the registry matched is named beside its id."""
    community = await new_community()
    caller, record = await volunteer(api, community, name="赵一曼")
    assert (await caller.get("/api/v1/me")).json()["display_name"] == "赵一曼"
    assert (await caller.post("/api/v1/volunteer/volunteers/me/withdraw")).is_success
    r = await api.admin.get(f"/api/v1/volunteer/volunteers/{record['id']}/history")
    withdrawn, registered = r.json()["items"]
    assert (withdrawn["action"], withdrawn["actor_name"]) == ("withdrawn", "赵一曼")
    assert (registered["action"], registered["actor_name"]) == ("registered", "赵一曼")
    fields = {c["field"]: c for c in registered["changes"]}
    resident_id = fields["resident_id"]["new"]
    assert resident_id
    assert fields["resident"]["new"] == f"赵一曼 ({resident_id})"
    assert fields["resident"]["field_name"] == "对应居民"
