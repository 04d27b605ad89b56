"""A grid worker reads a case in words: its category, status and priority come with their
Chinese names beside the codes, in the report's answer, the list, the detail (and each
step of its history), the worker's own work list and the phone's sync."""

from __future__ import annotations

from tests.factories import report, setup_cell, step


def names(case: dict) -> tuple:
    return (
        (case["category_code"], case["category_name"]),
        (case["status"], case["status_name"]),
        (case["priority"], case["priority_name"]),
    )


async def test_a_case_answers_its_category_status_and_priority_in_words(
    api, new_community, spot, worker
):
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    me = (await grid.get("/api/v1/me")).json()
    case = await report(grid, point)
    assert names(case) == (("01.01", "暴露垃圾"), ("reported", "已上报"), ("normal", "一般"))
    # An ordinary kind reported as urgent reads 紧急; a kind urgent by itself too.
    urgent = await report(grid, point, category_code="01.02", priority="urgent")
    assert names(urgent) == (("01.02", "乱堆物料"), ("reported", "已上报"), ("urgent", "紧急"))
    manhole = await report(grid, point, category_code="03.01", description="井盖缺失")
    assert (manhole["category_name"], manhole["priority_name"]) == ("井盖缺失", "紧急")

    listed = await grid.get("/api/v1/grid/cases", params={"cell": cell["code"]})
    assert listed.status_code == 200, listed.text
    by_id = {c["id"]: c for c in listed.json()["items"]}
    assert names(by_id[case["id"]]) == names(case) and names(by_id[urgent["id"]]) == names(urgent)

    assert (await step(api.admin, case["id"], "accept")).is_success
    r = await step(api.admin, case["id"], "dispatch", assignee_id=me["id"])
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["status_name"]) == ("dispatched", "已派遣")

    detail = (await grid.get(f"/api/v1/grid/cases/{case['id']}")).json()
    assert names(detail) == (("01.01", "暴露垃圾"), ("dispatched", "已派遣"), ("normal", "一般"))
    # Each step of its history in words too.
    assert [(h["action"], h["action_name"], h["to_status_name"]) for h in detail["history"]] == [
        ("report", "上报", "已上报"),
        ("accept", "立案", "已立案"),
        ("dispatch", "派遣", "已派遣"),
    ]

    work = (await grid.get("/api/v1/grid/my-work")).json()
    [assigned] = work["assigned"]
    assert names(assigned) == names(detail)
    assert {names(c) for c in work["reported"]} >= {names(detail), names(urgent)}

    synced = (await grid.get("/api/v1/grid/sync")).json()
    assert names(next(c for c in synced["cases"] if c["id"] == case["id"])) == names(detail)
