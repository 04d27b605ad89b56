"""The ranking of a whole city's communities as its officials read it: a page at a time in
rank order (a city holds thousands of communities), each community ranked among all of
them, the same ranking whether read whole or a page at a time, live or published."""

from __future__ import annotations

from services.common.clock import clock
from tests.factories import DISTRICT, community_with
from tests.support import assert_problem

YEAR = clock.today().year
CITY = "410100000000"


async def _pages(caller, params: dict) -> list[dict]:
    """Every page of the scores, following the cursor; each page's size is checked."""
    pages, cursor = [], None
    while True:
        r = await caller.get(
            "/api/v1/assessment/scores", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert r.status_code == 200, r.text
        pages.append(r.json())
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(r.json()["communities"]) == int(params.get("limit", 20))


async def test_a_district_ranking_read_a_page_at_a_time_is_the_whole_ranking(api, new_community):
    await community_with(api, new_community, 20, 2)  # 10%: passes the volunteer rate
    await community_with(api, new_community, 20, 1)
    await new_community()
    params = {"area": DISTRICT, "period": str(YEAR), "live": "true"}
    whole = await api.admin.get("/api/v1/assessment/scores", params=params)
    assert whole.status_code == 200, whole.text
    # A district's ranking comes whole unless a page is asked for.
    assert whole.json()["next_cursor"] is None and len(whole.json()["communities"]) >= 3
    pages = await _pages(api.admin, {**params, "limit": "2"})
    paged = [c for page in pages for c in page["communities"]]
    assert paged == whole.json()["communities"]
    ranks = [c["rank"] for c in paged]
    assert ranks == sorted(ranks) and ranks[0] == 1

    assert_problem(
        await api.admin.get(
            "/api/v1/assessment/scores", params={**params, "limit": "2", "cursor": "forged!"}
        ),
        400,
        "pagination.cursor_invalid",
    )
    assert_problem(
        await api.admin.get("/api/v1/assessment/scores", params={**params, "limit": "101"}), 422
    )


async def test_a_published_ranking_is_read_a_page_at_a_time_too(api, new_community):
    await new_community()
    await new_community()
    r = await api.admin.post(
        "/api/v1/assessment/scores/publish", json={"area": DISTRICT, "period": f"{YEAR}Q1"}
    )
    assert r.status_code == 201, r.text
    published = r.json()["communities"]
    pages = await _pages(api.admin, {"area": DISTRICT, "period": f"{YEAR}Q1", "limit": "2"})
    assert all(page["published"] and page["version"] == r.json()["version"] for page in pages)
    assert [c for page in pages for c in page["communities"]] == published


async def test_a_citys_ranking_comes_a_page_at_a_time_unless_a_page_size_is_asked(
    api, new_community
):
    """Above a district (a city: thousands of communities) the first page comes, twenty
    communities in rank order, with the cursor to the next."""
    created = await api.admin.post("/api/v1/registry/areas", json={"code": CITY, "name": "郑州市"})
    assert created.status_code in (201, 409), created.text
    params = {"area": CITY, "period": str(YEAR), "live": "true"}
    # As many communities as it takes for the city to hold more than a page.
    while True:
        district = await api.admin.get(
            "/api/v1/assessment/scores", params={**params, "area": DISTRICT}
        )
        if len(district.json()["communities"]) > 20:
            break
        await new_community()
    first = await api.admin.get("/api/v1/assessment/scores", params=params)
    assert first.status_code == 200, first.text
    assert len(first.json()["communities"]) == 20 and first.json()["next_cursor"]
    everyone = [c for page in await _pages(api.admin, params) for c in page["communities"]]
    assert everyone[:20] == first.json()["communities"]
    codes = [c["community_code"] for c in everyone]
    assert len(codes) == len(set(codes)) and set(codes) >= {
        c["community_code"] for c in district.json()["communities"]
    }
