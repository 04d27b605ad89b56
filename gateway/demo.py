"""Demo data for ``make run``: one account per staff role (password ``gongjian-demo``) and a
small district to look at. Loading it twice adds nothing. Refused in production."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx
from sqlalchemy import select
from stdnum.cn import ric

from gateway.models import User, UserScope
from gateway.service import hash_password
from services.common.clock import clock, start_of_day
from services.common.database import Database
from services.common.settings import DEMO_PASSWORD, Settings

DISTRICT = "410105000000"  # 金水区, Zhengzhou
STREET = "410105001000"
COMMUNITY = "410105001001"

# username, role, scope, display name
DEMO_ACCOUNTS = (
    ("demo-admin", "platform_admin", ["*"], "平台管理员"),
    ("demo-district", "district_admin", ["410105"], "金水区社区治理办"),
    ("demo-street", "street_admin", ["410105001"], "经八路街道办"),
    ("demo-community", "community_admin", [COMMUNITY], "黄河路社区工作者"),
    ("demo-grid", "grid_worker", [COMMUNITY], "黄河路社区网格员"),
    ("demo-unit", "unit_contact", [COMMUNITY], "驻区单位联络人"),
)


@dataclass
class DemoReport:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"demo data: {len(self.created)} created, {len(self.kept)} already there",
            "demo logins (password: gongjian-demo):",
        ]
        for username, role, scope, name in DEMO_ACCOUNTS:
            lines.append(f"  {username:<15} {role:<16} scope {','.join(scope):<14} {name}")
        lines.append(
            "  (demo-grid works the demo cells 410105001001001-002: its scope becomes them)"
        )
        lines.append('residents: POST /api/v1/auth/wechat {"code": "test:<any-openid>"}')
        return "\n".join(lines)


async def ensure_demo_accounts(db: Database, report: DemoReport) -> dict[str, str]:
    ids: dict[str, str] = {}
    async with db.transaction() as session:
        for username, role, scope, name in DEMO_ACCOUNTS:
            user = await session.scalar(select(User).where(User.username == username))
            if user is None:
                user = User(
                    username=username,
                    password_hash=await hash_password(DEMO_PASSWORD),
                    display_name=name,
                    roles=[role],
                    scopes=[UserScope(code=c) for c in scope],
                )
                session.add(user)
                await session.flush()
                report.created.append(f"account {username}")
            else:
                report.kept.append(f"account {username}")
            ids[username] = user.id
    return ids


AREAS = (
    (DISTRICT, "金水区"),
    (STREET, "经八路街道"),
    ("410105002000", "花园路街道"),
    (COMMUNITY, "黄河路社区"),
    ("410105001002", "省委社区"),
    ("410105001003", "纬一路社区"),
    ("410105002001", "花园路社区"),
    ("410105002002", "丰产路社区"),
)
COMMUNITIES = [code for code, _ in AREAS if not code.endswith("000")]
# Community profiles (m², people, yuan) — some meet the default thresholds, some do not.
PROFILES = {
    COMMUNITY: dict(
        office_area_m2=650,
        service_area_m2=420,
        activity_venue_m2=260,
        activity_square_m2=1200,
        full_time_staff=9,
        annual_funding_yuan=200000,
    ),
    "410105001002": dict(
        office_area_m2=320,
        service_area_m2=180,
        activity_venue_m2=150,
        full_time_staff=6,
        annual_funding_yuan=120000,
    ),
    "410105001003": dict(
        office_area_m2=280, service_area_m2=200, activity_venue_m2=210, full_time_staff=8
    ),
    "410105002001": dict(
        office_area_m2=700,
        service_area_m2=500,
        activity_venue_m2=300,
        activity_square_m2=1500,
        full_time_staff=10,
        annual_funding_yuan=260000,
    ),
    "410105002002": dict(office_area_m2=360, full_time_staff=7),
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
# Given names by the gender the ID number gives (its 17th digit), and the relations to the
# head each may have: the demo reads like a real roster, not 王丽 (男), 女 of the head.
GIVEN = {
    "male": "伟强磊军洋勇杰涛明超刚华建国志文博浩然轩宇鹏辉",
    "female": "芳娜秀英敏静丽艳娟兰霞平桂英欣怡子涵雨婷玉梅",
}
RELATIONS = {"male": ("配偶", "子", "父亲"), "female": ("配偶", "女", "母亲")}
RESIDENTS_PER_COMMUNITY = 200
DEMO_UNITS = (
    ("郑州市金水区经八路小学", "12410105MB1234567", "school", COMMUNITY),
    ("河南省某某科技有限公司", "91410105MA9ABCDE1", "enterprise", COMMUNITY),
    ("金水区某某医院", "12410105MB7654321", "hospital", "410105002001"),
)


def _uscc(body17: str) -> str:
    from stdnum.cn import uscc

    return body17 + uscc.calc_check_digit(body17)


def _id_number(rng: random.Random, today: date) -> str:
    born = today - timedelta(days=rng.randrange(2 * 365, 92 * 365))
    body = f"410105{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + ric.calc_check_digit(body + "0")


def demo_residents_csv(today: date) -> bytes:
    """About 1,000 residents with valid synthetic ID numbers, the same on every run."""
    rng = random.Random(2026)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "姓名",
            "身份证号",
            "手机号",
            "社区代码",
            "楼栋",
            "门牌号",
            "与户主关系",
            "居住类型",
            "标签",
        ]
    )
    seen = set()
    for community in COMMUNITIES:
        for i in range(RESIDENTS_PER_COMMUNITY):
            number = _id_number(rng, today)
            while number in seen:
                number = _id_number(rng, today)
            seen.add(number)
            age = today.year - int(number[6:10])
            tags = []
            if rng.random() < 0.08:
                tags.append("党员")
            if age >= 60:
                tags.append("老年人")
            if rng.random() < 0.02:
                tags.append("低保")
            gender = "male" if int(number[16]) % 2 else "female"
            building = f"{i % 8 + 1}号楼"
            door = f"{i % 3 + 1}单元{(i // 24) % 6 + 1}0{i % 4 + 1}"
            writer.writerow(
                [
                    rng.choice(SURNAMES)
                    + "".join(rng.choice(GIVEN[gender]) for _ in range(rng.choice((1, 2)))),
                    number,
                    f"13{rng.randrange(10)}{rng.randrange(10**8):08d}",
                    community,
                    building,
                    door,
                    "户主" if i % 3 == 0 else rng.choice(RELATIONS[gender]),
                    rng.choices(("户籍", "常住", "流动"), (6, 3, 1))[0],
                    "、".join(tags),
                ]
            )
    return out.getvalue().encode("utf-8-sig")


async def load_registry(client: httpx.AsyncClient, token: str, report: DemoReport) -> None:
    """Areas, units and residents, through the registry's own API like any client."""
    auth = {"Authorization": f"Bearer {token}"}
    for code, name in AREAS:
        r = await client.post(
            "/api/v1/registry/areas",
            json={"code": code, "name": name, **PROFILES.get(code, {})},
            headers=auth,
        )
        (report.created if r.status_code == 201 else report.kept).append(f"area {code}")
        if r.status_code not in (201, 409):
            raise RuntimeError(f"demo area {code}: {r.status_code} {r.text}")
    for name, body17, category, community in DEMO_UNITS:
        r = await client.post(
            "/api/v1/registry/units",
            json={
                "name": name,
                "uscc": _uscc(body17[:17]),
                "category": category,
                "community_code": community,
                "contact_name": "联络员",
                "contact_phone": "13800000000",
                "party_member_count": 25,
                "facilities": [
                    {
                        "name": "会议室",
                        "kind": "meeting_room",
                        "capacity": 40,
                        "opening_hours": "周六 9:00-17:00",
                    }
                ],
            },
            headers=auth,
        )
        (report.created if r.status_code == 201 else report.kept).append(f"unit {name}")
    # The demo roster names its buildings (1号楼 … 8号楼) and creates them, as a first
    # import of a community does; they get their locations later, like real ones.
    r = await client.post(
        "/api/v1/registry/imports",
        data={"kind": "residents", "create_buildings": "true"},
        files={"file": ("demo-residents.csv", demo_residents_csv(date(2026, 1, 1)), "text/csv")},
        headers=auth,
    )
    if r.status_code != 202:
        raise RuntimeError(f"demo residents: {r.status_code} {r.text}")
    job = (await client.get(f"/api/v1/registry/imports/{r.json()['id']}", headers=auth)).json()
    counts = ", ".join(f"{k} {job[k]}" for k in ("imported", "unchanged", "failed"))
    (report.created if job["imported"] else report.kept).append(f"residents: {counts}")


# Two cells over 黄河路社区 (WGS-84), near Zhengzhou's Huanghe Road.
DEMO_CELLS = (
    (
        "第一网格",
        [
            [113.6800, 34.7800],
            [113.6850, 34.7800],
            [113.6850, 34.7840],
            [113.6800, 34.7840],
            [113.6800, 34.7800],
        ],
    ),
    (
        "第二网格",
        [
            [113.6850, 34.7800],
            [113.6900, 34.7800],
            [113.6900, 34.7840],
            [113.6850, 34.7840],
            [113.6850, 34.7800],
        ],
    ),
)


async def load_grid_volunteer_assessment(
    client: httpx.AsyncClient, token: str, report: DemoReport, db: Database, ids: dict[str, str]
) -> None:
    """Cells with demo-grid as their worker, a reported case, an activity to sign up for, an
    open team, a signed co-building agreement with demo-unit's unit and a record of it to
    confirm, and the community's model-community application — only when there are none
    yet."""
    auth = {"Authorization": f"Bearer {token}"}
    existing = (
        await client.get("/api/v1/grid/cells", params={"community": COMMUNITY}, headers=auth)
    ).json()
    if existing["items"]:
        report.kept.append("cells, cases, activities, agreements")
        return
    # Place the roster's buildings on the map first: the new cells then take them in, and
    # demo-grid, whose scope becomes the cells, sees their households and residents.
    buildings = (
        await client.get(
            "/api/v1/registry/buildings",
            params={"community": COMMUNITY, "limit": 100},
            headers=auth,
        )
    ).json()["items"]
    for i, building in enumerate(sorted(buildings, key=lambda b: b["name"])):
        await client.patch(
            f"/api/v1/registry/buildings/{building['id']}",
            headers=auth,
            json={"lat": 34.7810 + 0.0005 * (i // 2), "lng": 113.6820 + 0.005 * (i % 2)},
        )
    cells = []
    for name, ring in DEMO_CELLS:
        r = await client.post(
            "/api/v1/grid/cells",
            headers=auth,
            json={
                "community_code": COMMUNITY,
                "name": name,
                "boundary": {"type": "Polygon", "coordinates": [ring]},
                "household_target": 300,
                "responsible": "黄河路社区",
            },
        )
        cells.append(r.json()["code"])
        await client.put(
            f"/api/v1/grid/cells/{r.json()['code']}/members",
            headers=auth,
            json={"workers": [ids["demo-grid"]], "leader": ids["demo-grid"]},
        )
    r = await client.post(
        "/api/v1/grid/cases",
        headers=auth,
        json={
            "category_code": "05.01",
            "description": "3号楼消防通道被电动车堵塞",
            "lat": 34.7820,
            "lng": 113.6825,
        },
    )
    # Accepted and sent to demo-grid, who finds it in their work and their inbox; a second
    # report waits for the community to accept it.
    case = f"/api/v1/grid/cases/{r.json()['id']}/transitions"
    await client.post(case, headers=auth, json={"action": "accept"})
    await client.post(
        case, headers=auth, json={"action": "dispatch", "assignee_id": ids["demo-grid"]}
    )
    await client.post(
        "/api/v1/grid/cases",
        headers=auth,
        json={
            "category_code": "01.01",
            "description": "5号楼北侧路边堆放建筑垃圾",
            "lat": 34.7830,
            "lng": 113.6822,
        },
    )
    # 09:00 Beijing time, three days from now: what a community worker would type.
    start = start_of_day(clock.today() + timedelta(days=3)) + timedelta(hours=9)
    await client.post(
        "/api/v1/volunteer/activities",
        headers=auth,
        json={
            "community_code": COMMUNITY,
            "title": "周末清洁家园",
            "category": "environment",
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(hours=3)).isoformat(),
            "lat": 34.7815,
            "lng": 113.6830,
            "radius_m": 150,
            "capacity": 30,
        },
    )
    await client.post(
        "/api/v1/volunteer/teams",
        headers=auth,
        json={"community_code": COMMUNITY, "name": "助老服务队", "kind": "elderly_care"},
    )
    units = (
        await client.get("/api/v1/registry/units", params={"community": COMMUNITY}, headers=auth)
    ).json()["items"]
    if units:
        unit = units[0]
        async with db.transaction() as session:  # demo-unit speaks for the first demo unit
            user = await session.scalar(select(User).where(User.username == "demo-unit"))
            user.unit_id = unit["id"]
        year = clock.today().year
        r = await client.post(
            "/api/v1/assessment/agreements",
            headers=auth,
            json={
                "unit_id": unit["id"],
                "community_code": COMMUNITY,
                "title": f"{year}年度共驻共建协议",
                "term_start": f"{year}-01-01",
                "term_end": f"{year}-12-31",
                "pledges": [
                    {
                        "category": "services",
                        "description": "每季度开展一次便民服务",
                        "target_quantity": 1,
                        "target_unit": "times",
                        "per": "quarter",
                    },
                    {
                        "category": "facilities",
                        "description": "周末向居民开放会议室",
                        "target_quantity": 8,
                        "target_unit": "opening_hours_per_week",
                        "per": "year",
                        "facility_name": "会议室",
                        "facility_capacity": 40,
                        "facility_hours": "周六 9:00-17:00",
                        "facility_address": "金水区黄河路社区经八路小学",
                        "facility_lat": 34.7825,
                        "facility_lng": 113.6835,
                    },
                ],
            },
        )
        agreement = r.json()["id"]
        unit_token = (
            await client.post(
                "/api/v1/auth/token", json={"username": "demo-unit", "password": DEMO_PASSWORD}
            )
        ).json()["access_token"]
        await client.post(
            f"/api/v1/assessment/agreements/{agreement}/sign",
            json={"party": "unit"},
            headers={"Authorization": f"Bearer {unit_token}"},
        )
        await client.post(
            f"/api/v1/assessment/agreements/{agreement}/sign",
            json={"party": "community"},
            headers=auth,
        )
        # The unit did what it pledged this week: the community has a record to confirm.
        pledges = (
            await client.get(f"/api/v1/assessment/agreements/{agreement}", headers=auth)
        ).json()["pledges"]
        await client.post(
            f"/api/v1/assessment/agreements/{agreement}/records",
            headers={"Authorization": f"Bearer {unit_token}"},
            json={
                "pledge_id": pledges[0]["id"],
                "day": clock.today().isoformat(),
                "quantity": 1,
                "participants": 12,
                "description": "在社区广场开展义诊和法律咨询",
            },
        )
    # The community applies to be a model community: the street has a step to take.
    community_token = (
        await client.post(
            "/api/v1/auth/token", json={"username": "demo-community", "password": DEMO_PASSWORD}
        )
    ).json()["access_token"]
    await client.post(
        "/api/v1/assessment/applications",
        headers={"Authorization": f"Bearer {community_token}"},
        json={
            "community_code": COMMUNITY,
            "year": clock.today().year,
            "statement": "黄河路社区申报本年度示范社区:网格全覆盖,志愿者注册率逐月提升。",
        },
    )
    report.created.append(
        f"cells {', '.join(cells)}, a case, an activity, a team, an agreement with a record "
        "to confirm, a model-community application"
    )


async def load_demo_data(settings: Settings) -> DemoReport:
    if settings.env == "production":
        raise RuntimeError("demo data is refused in production")
    from gateway.app import create_app

    report = DemoReport()
    # Big enough that the demo roster is imported before the answer.
    app = create_app(settings.model_copy(update={"import_inline_max_bytes": 8 * 1024 * 1024}))
    async with app.router.lifespan_context(app):
        ids = await ensure_demo_accounts(app.state.database, report)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            r = await client.post(
                "/api/v1/auth/token", json={"username": "demo-admin", "password": DEMO_PASSWORD}
            )
            r.raise_for_status()
            await load_registry(client, r.json()["access_token"], report)
            await load_grid_volunteer_assessment(
                client, r.json()["access_token"], report, app.state.database, ids
            )
    return report
