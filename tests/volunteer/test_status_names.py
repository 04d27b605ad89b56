"""What a resident and a community worker read beside each code: the registration's, the
sign-up's, the activity's and the hours line's status in Chinese, the codes kept for the
program."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.common.clock import clock
from tests.factories import activity, staff_account, volunteer


async def test_every_status_a_volunteer_reads_has_its_chinese_name(api, new_community):
    community = await new_community()
    worker = await staff_account(api, "community_admin", community, "张社工")
    checker = await staff_account(api, "community_admin", community, "李社工")

    # The registration: waiting, then active; one rejected, one withdrawn.
    caller, pending = await volunteer(api, community, matched=False)
    assert (pending["status"], pending["status_name"]) == ("pending", "待审核")
    listed = await worker.get("/api/v1/volunteer/volunteers", params={"community": community})
    assert {v["id"]: v["status_name"] for v in listed.json()["items"]}[pending["id"]] == "待审核"
    r = await worker.post(f"/api/v1/volunteer/volunteers/{pending['id']}/approve")
    assert (r.json()["status"], r.json()["status_name"]) == ("active", "有效")
    _, other = await volunteer(api, community, matched=False)
    r = await worker.post(f"/api/v1/volunteer/volunteers/{other['id']}/reject")
    assert (r.json()["status"], r.json()["status_name"]) == ("rejected", "未通过审核")
    leaver, _ = await volunteer(api, community)
    r = await leaver.post("/api/v1/volunteer/volunteers/me/withdraw")
    assert (r.json()["status"], r.json()["status_name"]) == ("withdrawn", "已退出")

    # An activity for one: confirmed, waitlisted, cancelled.
    event = await activity(api, community, capacity=1, start_in=timedelta(days=1), hours=2)
    assert (event["status"], event["status_name"]) == ("published", "已发布")
    url = f"/api/v1/volunteer/activities/{event['id']}/signups"
    first = (await caller.post(url)).json()
    assert (first["status"], first["status_name"]) == ("confirmed", "已确认")
    second_caller, _ = await volunteer(api, community)
    second = (await second_caller.post(url)).json()
    assert (second["status"], second["status_name"]) == ("waitlisted", "候补中")
    gone = (await second_caller.delete(f"{url}/me")).json()
    assert (gone["status"], gone["status_name"]) == ("cancelled", "已取消")
    dropped = await activity(api, community)
    r = await worker.post(f"/api/v1/volunteer/activities/{dropped['id']}/cancel")
    assert (r.json()["status"], r.json()["status_name"]) == ("cancelled", "已取消")

    # The one who held the place never comes: the activity closes, they did not show up.
    clock.set(datetime.fromisoformat(event["end_at"]) + timedelta(minutes=30))
    worker = await api.login(worker.username, "staff-pass-1")  # a day on: logged in anew
    checker = await api.login(checker.username, "staff-pass-1")
    caller = await api.resident(caller.openid)
    r = await worker.post(f"/api/v1/volunteer/activities/{event['id']}/finish")
    assert r.status_code == 200, r.text
    r = await worker.get(f"/api/v1/volunteer/activities/{event['id']}")
    assert (r.json()["status"], r.json()["status_name"]) == ("finished", "已结束")
    [signup] = [s for s in (await worker.get(url)).json()["items"] if s["id"] == first["id"]]
    assert (signup["status"], signup["status_name"]) == ("no_show", "未到场")

    # An hours line entered by one worker, approved by another.
    r = await worker.post(
        "/api/v1/volunteer/hours/adjustments",
        json={
            "volunteer_id": pending["id"],
            "hours": "2",
            "service_date": str(clock.today()),
            "reason": "补录社区值守",
            "kind": "back_entry",
        },
    )
    line = r.json()
    assert (line["status"], line["status_name"]) == ("pending", "待审核")
    assert (line["kind"], line["kind_name"]) == ("back_entry", "补录")
    r = await checker.post(f"/api/v1/volunteer/hours/adjustments/{line['id']}/approve")
    assert (r.json()["status"], r.json()["status_name"]) == ("approved", "已通过")
    ledger = (await caller.get(f"/api/v1/volunteer/volunteers/{pending['id']}/hours")).json()
    assert [(e["status_name"], e["kind_name"]) for e in ledger["entries"]] == [("已通过", "补录")]


async def test_teams_and_activities_name_their_codes_and_a_leaver_leaves_their_teams(
    api, new_community
):
    """A phone shows 为老服务队, 自由加入 and the activity's category beside the codes; the
    registration answer lists the teams as /me does (an in-service party member is in the
    party team at once); one who withdraws is in no team any more, the team's history says
    they left; party-report hours read as the ledger's, 0.00, in the stats as well."""
    community = await new_community()
    r = await api.admin.post(
        "/api/v1/volunteer/teams",
        json={"community_code": community, "name": "助老服务队", "kind": "elderly_care"},
    )
    team = r.json()
    assert (team["kind_name"], team["joining_name"]) == ("为老服务队", "自由加入")
    listed = await api.admin.get("/api/v1/volunteer/teams", params={"community": community})
    assert {t["kind_name"] for t in listed.json()["items"]} >= {"为老服务队"}
    event = await activity(api, community)
    assert event["category_name"] == "environment"  # a deployment's own code: as itself

    plain, record = await volunteer(api, community)
    assert record["teams"] == []
    caller, member = await volunteer(api, community, in_service_party_member=True)
    assert [t["kind_name"] for t in member["teams"]] == ["党员志愿服务队"]
    assert (await caller.post(f"/api/v1/volunteer/teams/{team['id']}/join")).status_code == 200
    mine = (await caller.get("/api/v1/volunteer/volunteers/me")).json()
    assert {t["kind_name"] for t in mine["teams"]} == {"党员志愿服务队", "为老服务队"}
    assert (await caller.post("/api/v1/volunteer/volunteers/me/party-report")).is_success
    reports = await api.admin.get(
        "/api/v1/volunteer/party-reports", params={"community": community}
    )
    [report] = reports.json()["items"]
    assert report["hours"] == "0.00"
    stats = await api.admin.get("/api/v1/volunteer/stats/party-members", params={"area": community})
    assert [row["hours"] for row in stats.json()["by_community"]] == ["0.00"]

    r = await caller.post("/api/v1/volunteer/volunteers/me/withdraw")
    assert r.status_code == 200 and r.json()["teams"] == []
    assert (await caller.get("/api/v1/volunteer/volunteers/me")).json()["teams"] == []
    listed = await api.admin.get("/api/v1/volunteer/teams", params={"community": community})
    assert {t["id"]: t["members"] for t in listed.json()["items"]}[team["id"]] == 0
    history = (await api.admin.get(f"/api/v1/volunteer/teams/{team['id']}/history")).json()
    assert history["items"][0]["action"] == "left"
