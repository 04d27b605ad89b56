"""Seed 002's city, synthetic but shaped like it, for ``bench/city.py``: 1,087 communities
and 2,074 villages under ~100 streets of 12 districts and counties, 5,856 grid cells, three
million residents, 300,000 volunteers, a year of a million cases and 10,000 co-building
agreements with their records (``scale`` 1.0; every count scales with it, so that two scales
differ as a city differs from a province: more communities of the same size).

The rows are written by COPY straight into each service's own tables, made the way the
services make them: ID numbers and phones sealed by the registry's own helpers
(``seal_id_number``, ``seal_phone``: AES-GCM and the blind index), deadlines by the grid's
``step_deadline`` on its working calendar, volunteer numbers as registration gives them; the
population counts are rebuilt by the registry's own ``counts.recount``. Secondary indexes
are dropped for the load and built again after it, and the tables' triggers held off, as
any bulk load does."""

from __future__ import annotations

import asyncio
import json
import math
import queue
import random
import threading
import time
from array import array
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import asyncpg
from stdnum.cn import ric, uscc

from services.common.clock import clock, local_zone
from services.common.database import Database
from services.common.ids import new_id
from services.common.pii import PiiCipher, mask_id_number, mask_phone
from services.common.validators import parse_id_number
from services.grid.calendar import WorkCalendar
from services.grid.service.cases import step_deadline
from services.grid.workflow import STEP_OF_STATUS
from services.registry import counts
from services.registry.personal import seal_id_number, seal_phone

CITY = "410100000000"  # 郑州市: seed 002's figures are a city's
# (code, name, urban): urban districts hold the streets, counties the towns and villages.
DISTRICTS = (
    ("410102", "中原区", True),
    ("410103", "二七区", True),
    ("410104", "管城回族区", True),
    ("410105", "金水区", True),
    ("410106", "上街区", True),
    ("410108", "惠济区", True),
    ("410122", "中牟县", False),
    ("410181", "巩义市", False),
    ("410182", "荥阳市", False),
    ("410183", "新密市", False),
    ("410184", "新郑市", False),
    ("410185", "登封市", False),
)
# Seed 002: "行政村 2074 个 … 社区 1087 个", "单元 5856 个"; the issue adds the rest.
FULL = {
    "streets": 100,
    "communities": 1087,
    "villages": 2074,
    "cells": 5856,
    "residents": 3_000_000,
    "volunteers": 300_000,
    "cases": 1_000_000,
    "agreements": 10_000,
    "units": 8_000,
}
PASSWORD = "bench-city-pass"  # every account made here (one hash, computed once)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超华平刚桂兰玉萍红梅鑫波斌宇浩凯健俊帆建国志文博然子轩涵雨欣梓涵一诺浩宇佳怡思远雅琪晨阳"
ROADS = ("黄河", "嵩山", "桐柏", "伏牛", "大学", "建设", "中原", "文化", "农业", "纬五", "经八", "花园", "金水", "丰产", "东风", "未来", "政七", "南阳", "人民", "解放", "商城", "陇海", "航海", "淮河", "长江", "紫荆", "秦岭", "须水", "棉纺", "友爱")  # fmt: skip
MOBILE_PREFIXES = ("130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "157", "158", "159", "176", "177", "180", "182", "183", "185", "186", "187", "188", "189")  # fmt: skip
TAGS = (("disabled", 0.02), ("low_income", 0.015), ("special_care", 0.005), ("hardship", 0.003))
UNIT_KINDS = (
    ("91", "enterprise", "有限公司"),
    ("12", "school", "学校"),
    ("12", "hospital", "医院"),
    ("11", "agency", "局"),
    ("52", "social_org", "服务中心"),
)
PLEDGE_CATEGORIES = (
    "party_building",
    "ideology",
    "services",
    "facilities",
    "security",
    "sanitation",
)
CELL_SIZE = 0.004  # degrees: cells of ~400 m laid out as a square grid over the city
ORIGIN = (34.55, 113.35)


def counts_at(scale: float) -> dict[str, int]:
    return {k: max(1, round(v * scale)) for k, v in FULL.items()}


@dataclass
class CommunityPlan:
    code: str
    name: str
    village: bool
    residents: int
    cells: list[CellPlan] = field(default_factory=list)


@dataclass
class CellPlan:
    code: str
    community: str
    residents: int
    row: int = 0
    col: int = 0


@dataclass
class Plan:
    scale: float
    counts: dict[str, int]
    districts: list[tuple[str, str]]
    streets: list[tuple[str, str]]
    communities: list[CommunityPlan]

    @property
    def cells(self) -> list[CellPlan]:
        return [cell for c in self.communities for cell in c.cells]


def _share(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, in whole numbers that add up."""
    s = sum(weights)
    exact = [total * w / s for w in weights]
    out = [math.floor(x) for x in exact]
    for i in sorted(range(len(out)), key=lambda i: out[i] - exact[i])[: total - sum(out)]:
        out[i] += 1
    return out


class Spread:
    """A total handed out in whole numbers as a running weight grows: after the last
    weight, exactly ``total`` (what one taker could not use, the next one gets)."""

    def __init__(self, total: int, weight_total: float) -> None:
        self.total, self.weight_total = total, weight_total
        self.weight = 0.0
        self.given = 0

    def take(self, weight: float) -> int:
        self.weight += weight
        return round(self.total * self.weight / self.weight_total) - self.given

    def gave(self, n: int) -> None:
        self.given += n


def plan(scale: float, seed: int = 2) -> Plan:
    """The area tree and the grid: streets in the urban districts, towns in the counties;
    communities (segment 001–199) under the streets, villages (200–399) under the towns, a
    community weighing twice a village in residents, each with at least one cell and more
    cells where more people live."""
    rng = random.Random(seed)
    n = counts_at(scale)
    urban = [d for d in DISTRICTS if d[2]][: max(1, round(6 * scale))]
    county = [d for d in DISTRICTS if not d[2]][: max(1, round(6 * scale))]
    units = n["communities"] + n["villages"]
    n_streets = max(2, n["streets"])
    n_urban = max(1, round(n_streets * n["communities"] / units))
    streets: list[tuple[str, str]] = []
    per_district: dict[str, int] = {}
    for i in range(n_streets):
        is_urban = i < n_urban
        code, name, _ = (urban if is_urban else county)[i % len(urban if is_urban else county)]
        k = per_district.get(code, 0) + 1
        per_district[code] = k
        seg = k if is_urban else 100 + k
        road = ROADS[len(streets) % len(ROADS)]
        streets.append((f"{code}{seg:03d}000", f"{road}{'街道' if is_urban else '镇'}"))
    streets.sort()
    per_street = _share(units, [1.0] * len(streets))
    kinds = [False] * n["communities"] + [True] * n["villages"]  # village?
    communities: list[CommunityPlan] = []
    taken = 0
    for (street, _), k in zip(streets, per_street, strict=True):
        c_seq, v_seq = 0, 199
        for village in kinds[taken : taken + k]:
            if village:
                v_seq += 1
                seq, label = v_seq, f"{ROADS[v_seq % len(ROADS)]}{v_seq - 199}村"
            else:
                c_seq += 1
                seq, label = c_seq, f"{ROADS[c_seq % len(ROADS)]}{c_seq}社区"
            communities.append(CommunityPlan(f"{street[:9]}{seq:03d}", label, village, 0))
        taken += k
    weights = [(1.0 if c.village else 2.0) * rng.uniform(0.6, 1.4) for c in communities]
    for c, r in zip(communities, _share(n["residents"], weights), strict=True):
        c.residents = r
    extra = _share(max(0, n["cells"] - len(communities)), [c.residents for c in communities])
    index = 0
    side = math.ceil(math.sqrt(max(n["cells"], len(communities))))
    for c, more in zip(communities, extra, strict=True):
        for seq, r in enumerate(_share(c.residents, [1.0] * (1 + more)), start=1):
            c.cells.append(CellPlan(f"{c.code}{seq:03d}", c.code, r, index // side, index % side))
            index += 1
    return Plan(scale, n, [(d[0] + "000000", d[1]) for d in urban + county], streets, communities)


def cell_box(cell: CellPlan) -> tuple[float, float, float, float]:
    lat, lng = ORIGIN[0] + cell.row * CELL_SIZE, ORIGIN[1] + cell.col * CELL_SIZE
    return lat, lng, lat + CELL_SIZE, lng + CELL_SIZE


# --- writing: COPY, table by table, parents first ------------------------------------------

# Every table loaded, in the order a flush writes them: a row's parent is written first.
TABLES = (
    "registry.areas",
    "registry.buildings",
    "registry.households",
    "registry.residents",
    "registry.resident_tags",
    "registry.units",
    "gateway.users",
    "gateway.user_scopes",
    "gateway.wechat_identities",
    "grid.cells",
    "grid.cell_members",
    "grid.cases",
    "grid.case_events",
    "volunteer.teams",
    "volunteer.volunteers",
    "volunteer.number_counters",
    "volunteer.team_members",
    "volunteer.hours_entries",
    "assessment.agreements",
    "assessment.pledges",
    "assessment.fulfilment_records",
    "assessment.meetings",
)


class Sink:
    """Where the generator puts rows: buffered per table, and once enough are waiting handed
    over whole (``handoff``: every table's rows so far) to be written in the order of
    ``TABLES``, so that a parent row is always in before its children. A table's columns
    are those its first row names; each later row must name the same ones."""

    def __init__(self, handoff, batch: int = 20_000) -> None:
        self.handoff = handoff
        self.batch = batch
        self.columns: dict[str, tuple[str, ...]] = {}
        self.buffers: dict[str, list[tuple]] = {t: [] for t in TABLES}
        self.pending = 0

    def add(self, table: str, **values) -> None:
        columns = self.columns.get(table)
        if columns is None:
            columns = self.columns[table] = tuple(values)
        elif len(values) != len(columns):
            raise ValueError(f"{table}: {sorted(set(values) ^ set(columns))} given or not")
        self.buffers[table].append(tuple([values[c] for c in columns]))
        self.pending += 1

    def maybe_flush(self) -> None:
        if self.pending >= self.batch:
            self.flush()

    def flush(self) -> None:
        batch = {t: rows for t, rows in self.buffers.items() if rows}
        self.buffers = {t: [] for t in TABLES}
        self.pending = 0
        if batch:
            self.handoff(batch, dict(self.columns))


class CopyWriter:
    """Writes handed-over batches by COPY (asyncpg ``copy_records_to_table``), table by
    table in the order of ``TABLES``; counts rows and the time spent in COPY."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.rows: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.copy_s: dict[str, float] = dict.fromkeys(TABLES, 0.0)

    async def write(self, batch: dict[str, list[tuple]], columns: dict[str, tuple]) -> None:
        for table in TABLES:
            rows = batch.get(table)
            if not rows:
                continue
            schema, name = table.split(".")
            if not self.rows[table]:
                await self._check(schema, name, columns[table])
            t0 = time.perf_counter()
            await self.conn.copy_records_to_table(
                name, records=rows, columns=columns[table], schema_name=schema
            )
            self.copy_s[table] += time.perf_counter() - t0
            self.rows[table] += len(rows)

    async def _check(self, schema: str, name: str, columns: tuple[str, ...]) -> None:
        """Every NOT NULL column without a server default is given: a column another change
        adds to a table fails here, by name, rather than as a COPY error."""
        required = await self.conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = $1"
            " AND table_name = $2 AND is_nullable = 'NO' AND column_default IS NULL",
            schema,
            name,
        )
        missing = {r["column_name"] for r in required} - set(columns)
        if missing:
            raise RuntimeError(f"{schema}.{name}: the load gives no value for {sorted(missing)}")


async def _pipeline(loader: CityLoader, categories: list, writer: CopyWriter) -> float:
    """The generator in a thread, the COPY here; the generator's own time is answered (its
    waits for a full queue left out). A failure on either side stops both."""
    handoffs: queue.Queue = queue.Queue(maxsize=2)
    failed = threading.Event()
    waited = 0.0

    def handoff(batch, columns) -> None:
        nonlocal waited
        if failed.is_set():
            raise RuntimeError("the COPY side failed")
        t0 = time.perf_counter()
        handoffs.put((batch, columns))
        waited += time.perf_counter() - t0

    def produce() -> float:
        t0 = time.perf_counter()
        try:
            loader.everything(Sink(handoff), categories)
        finally:
            handoffs.put(None)
        return time.perf_counter() - t0 - waited

    loop = asyncio.get_running_loop()
    producer = loop.run_in_executor(None, produce)
    try:
        while (item := await loop.run_in_executor(None, handoffs.get)) is not None:
            await writer.write(*item)
    except BaseException:
        failed.set()
        while await loop.run_in_executor(None, handoffs.get) is not None:
            pass  # the generator stops at its next handoff
        raise
    return await producer


async def drop_secondary_indexes(conn: asyncpg.Connection) -> list[str]:
    """The indexes of the loaded tables that no constraint owns, dropped; their definitions
    returned to be built again once the rows are in (one sort each instead of three
    million random inserts)."""
    defs = []
    for table in TABLES:
        schema, name = table.split(".")
        rows = await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = $1 AND"
            " i.tablename = $2 AND NOT EXISTS (SELECT 1 FROM pg_constraint c JOIN"
            " pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1 AND"
            " c.conname = i.indexname)",
            schema,
            name,
        )
        for r in rows:
            await conn.execute(f'DROP INDEX "{schema}"."{r["indexname"]}"')
            defs.append(r["indexdef"])
    return defs


# --- what people, households and buildings look like ---------------------------------------


class IdNumbers:
    """Valid, unique GB 11643 numbers: region (the district), birth date, an order code whose
    last digit says the gender, and the check digit. One counter per region, day and gender
    (an array of shorts, not a dict: three million people)."""

    FIRST = date(1920, 1, 1)
    DAYS = 40_000

    def __init__(self, regions: list[str]) -> None:
        self.regions = {r: i for i, r in enumerate(regions)}
        self.used = array("H", bytes(2 * len(regions) * self.DAYS * 2))

    def make(self, region: str, born: date, male: bool) -> str:
        slot = ((self.regions[region] * self.DAYS) + (born - self.FIRST).days) * 2 + male
        k = self.used[slot]
        self.used[slot] = k + 1
        body = f"{region}{born:%Y%m%d}{2 * k + male:03d}"
        return body + ric.calc_check_digit(body + "0")


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _phone(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _born(rng: random.Random, today: date, age: int) -> date:
    return max(IdNumbers.FIRST, today - timedelta(days=age * 365 + rng.randrange(365)))


def household_members(rng: random.Random, size: int, today: date):
    """(relation, birth date, male) for a household of ``size``: a head, a spouse, children
    a generation younger, a parent a generation older."""
    head_age = round(rng.triangular(22, 88, 36))
    head_male = rng.random() < 0.62
    members = [("户主", _born(rng, today, head_age), head_male)]
    if size >= 2:
        members.append(
            ("配偶", _born(rng, today, max(20, head_age + rng.randint(-6, 6))), not head_male)
        )
    for _ in range(max(0, min(size, 4) - len(members))):
        male = rng.random() < 0.52
        age = max(0, head_age - rng.randint(22, 36))
        members.append(("子" if male else "女", _born(rng, today, age), male))
    for _ in range(size - len(members)):
        male = rng.random() < 0.45
        members.append(("父亲" if male else "母亲", _born(rng, today, min(100, head_age + rng.randint(24, 32))), male))  # fmt: skip
    return members


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _past(rng: random.Random, now: datetime, lo_days: float, hi_days: float) -> datetime:
    return now - timedelta(days=rng.uniform(lo_days, hi_days))


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


# --- the load -------------------------------------------------------------------------------


@dataclass
class Loaded:
    """What the measurements need to know about what was loaded."""

    figures: dict
    median_cell: str
    median_cell_residents: int
    largest_cell: str
    largest_cell_residents: int
    street: str
    street_residents: int
    active_volunteers: int


class CityLoader:
    """Generates the city community by community and hands the rows to a ``Sink``."""

    def __init__(self, plan: Plan, cipher: PiiCipher, password_hash: str, seed: int = 2) -> None:
        self.plan = plan
        self.cipher = cipher
        self.password_hash = password_hash
        self.rng = random.Random(seed)
        # Everything happened before the measurements start, and before a sync's window.
        self.now = clock.now().replace(microsecond=0) - timedelta(minutes=10)
        self.today = clock.today()
        self.ids = IdNumbers([d[0][:6] for d in plan.districts])
        self.calendar = WorkCalendar(zone=local_zone())
        self.cell_residents: dict[str, int] = {}
        self.active_volunteers = 0
        self.volunteer_targets: dict[str, int] = {}
        people = plan.counts["residents"]
        self.cases = Spread(plan.counts["cases"], people)
        self.units = Spread(plan.counts["units"], people)
        self.agreements = Spread(plan.counts["agreements"], people)
        self.unit_count = 0
        self.workers: dict[str, str] = {}
        self.buildings: list[tuple] = []

    # areas, accounts and the grid -------------------------------------------------------

    def areas(self, sink: Sink) -> None:
        made = self.now - timedelta(days=800)
        rng = self.rng
        blank = dict.fromkeys(
            ("office_area_m2", "service_area_m2", "activity_venue_m2", "activity_square_m2",
             "full_time_staff", "annual_funding_yuan"),
        )  # fmt: skip
        times = {"created_at": made, "updated_at": made}

        def area(code, name, level, kind, parent, **profile):
            sink.add(
                "registry.areas",
                code=code,
                name=name,
                level=level,
                kind=kind,
                parent_code=parent,
                **(blank | profile),
                **times,
            )

        area(CITY, "郑州市", "city", "city", None)
        for code, name in self.plan.districts:
            area(code, name, "district", "district", CITY)
        for code, name in self.plan.streets:
            kind = "street" if int(code[6:9]) < 100 else "town"
            area(code, name, "street", kind, code[:6] + "000000")
        for c in self.plan.communities:
            # The profile the assessment reads, some communities short of each standard.
            area(
                c.code,
                c.name,
                "community",
                "village" if c.village else "community",
                c.code[:9] + "000",
                office_area_m2=Decimal(rng.randrange(150, 900)),
                service_area_m2=Decimal(rng.randrange(100, 1200)),
                activity_venue_m2=Decimal(rng.randrange(80, 400)),
                activity_square_m2=Decimal(rng.randrange(300, 2000)),
                full_time_staff=rng.randint(3, 9) if c.village else rng.randint(4, 16),
                annual_funding_yuan=Decimal(rng.randrange(20, 300) * 1000),
            )

    def _account(self, sink, uid, username, name, role, scope, made, resident_id=None) -> None:
        sink.add(
            "gateway.users",
            id=uid,
            username=username,
            password_hash=self.password_hash if username else None,
            display_name=name,
            roles=_json([role]),
            extra_permissions="[]",
            unit_id=None,
            resident_id=resident_id,
            active=True,
            created_at=made,
        )
        if scope:
            sink.add("gateway.user_scopes", user_id=uid, code=scope)

    def accounts_and_grid(self, sink: Sink) -> None:
        """A street admin per street; the cells with their square boundaries, a grid worker
        for each (their scope is their cell, as the grid's members event makes it)."""
        rng = self.rng
        made = self.now - timedelta(days=700)
        for code, name in self.plan.streets:
            self._account(sink, new_id(), f"street-{code}", f"{name}办", "street_admin", code[:9], made)  # fmt: skip
        for cell in self.plan.cells:
            lat0, lng0, lat1, lng1 = cell_box(cell)
            ring = [[lng0, lat0], [lng1, lat0], [lng1, lat1], [lng0, lat1], [lng0, lat0]]
            sink.add(
                "grid.cells",
                code=cell.code,
                community_code=cell.community,
                name=f"第{cell.code[-3:]}网格",
                kind="comprehensive",
                household_target=cell.residents // 3,
                responsible=_name(rng),
                boundary=_json({"type": "Polygon", "coordinates": [ring]}),
                min_lat=lat0,
                min_lng=lng0,
                max_lat=lat1,
                max_lng=lng1,
                valid_from=made.date(),
                created_at=made,
                updated_at=made,
            )
            uid = self.workers[cell.code] = new_id()
            name = _name(rng)
            self._account(sink, uid, f"grid-{cell.code}", name, "grid_worker", cell.code, made)
            sink.add(
                "grid.cell_members",
                cell_code=cell.code,
                user_id=uid,
                role="worker",
                display_name=name,
                assigned_at=made,
            )

    # one community at a time: its people, volunteers, cases and co-building ---------------

    def community(self, sink: Sink, c: CommunityPlan, categories: list) -> None:
        party_team, open_team = new_id(), new_id()
        made = self.now - timedelta(days=600)
        for tid, name, kind, joining in (
            (party_team, "党员志愿服务队", "party_member", "invited"),
            (open_team, "社区志愿服务队", "general", "open"),
        ):
            sink.add(
                "volunteer.teams",
                id=tid,
                community_code=c.code,
                name=name,
                kind=kind,
                joining=joining,
                created_at=made,
            )
        units = self._units(sink, c)
        adults = []
        for cell in c.cells:
            adults += self._roster(sink, c, cell)
            self._cases(sink, cell, categories)
            sink.maybe_flush()
        self._volunteers(sink, c, adults, units, party_team, open_team)
        self._co_building(sink, c, units)
        sink.maybe_flush()

    def everything(self, sink: Sink, categories: list) -> None:
        self.areas(sink)
        self.accounts_and_grid(sink)
        for c in self.plan.communities:
            self.community(sink, c, categories)
        sink.flush()

    def _roster(self, sink: Sink, c: CommunityPlan, cell: CellPlan) -> list[tuple]:
        """The cell's buildings, households and residents (and a few who moved out, as
        history is); returns the adults who might volunteer."""
        rng, today = self.rng, self.today
        lat0, lng0, lat1, lng1 = cell_box(cell)
        per_building = (6, 14) if c.village else (24, 48)
        left = cell.residents
        adults = []
        building, in_building, target = None, 0, 0
        self.cell_residents[cell.code] = cell.residents
        self.buildings = []
        while left > 0:
            if building is None or in_building >= target:
                bid = new_id()
                lat = rng.uniform(lat0 + 0.0002, lat1 - 0.0002)
                lng = rng.uniform(lng0 + 0.0002, lng1 - 0.0002)
                label = f"{cell.code[-3:]}-{len(self.buildings) + 1}{'组' if c.village else '号楼'}"
                made = _past(rng, self.now, 300, 700)
                sink.add(
                    "registry.buildings",
                    id=bid,
                    community_code=c.code,
                    name=label,
                    address=f"{c.name}{label}",
                    floors=rng.randint(2, 3) if c.village else rng.choice((6, 7, 11, 18, 26, 33)),
                    lat=lat,
                    lng=lng,
                    cell_code=cell.code,
                    created_at=made,
                    updated_at=made,
                )
                building, in_building = (bid, lat, lng, label), 0
                self.buildings.append(building)
                target = rng.randint(*per_building)
            size = min(left, rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5)) + (1 if c.village else 0))
            left -= size
            in_building += 1
            hid = new_id()
            made = _past(rng, self.now, 30, 700)
            head_name = None
            for relation, born, male in household_members(rng, size, today):
                name = _name(rng)
                head_name = head_name or name
                adult = self._resident(sink, c, building[0], hid, name, relation, born, male, made)
                if adult is not None:
                    adults.append(adult)
            if rng.random() < 0.02:  # someone who lived here once: history, not counted
                born = _born(rng, today, rng.randint(20, 70))
                self._resident(sink, c, building[0], hid, _name(rng), "其他", born, rng.random() < 0.5, made, moved_out=True)  # fmt: skip
            k = in_building
            sink.add(
                "registry.households",
                id=hid,
                community_code=c.code,
                building_id=building[0],
                door_no=f"{k}号"
                if c.village
                else f"{k % 3 + 1}单元{k // 6 + 1:02d}{k % 2 + 1:02d}",
                head_name=head_name,
                created_at=made,
                updated_at=made,
            )
        return adults

    def _resident(self, sink, c, building_id, hid, name, relation, born, male, made, moved_out=False):  # fmt: skip
        rng, today = self.rng, self.today
        number = self.ids.make(c.code[:6], born, male)
        citizen = parse_id_number(number, today)
        age = _age(born, today)
        phone = _phone(rng) if age >= 14 and rng.random() < 0.9 else None
        roll = rng.random()
        residence = "registered" if roll < 0.65 else "permanent" if roll < 0.85 else "floating"
        rid = new_id()
        sealed = seal_id_number(self.cipher, citizen)
        sink.add(
            "registry.residents",
            id=rid,
            community_code=c.code,
            household_id=hid,
            building_id=building_id,
            name=name,
            **sealed,
            **seal_phone(self.cipher, phone),
            relation_to_head=relation,
            residence_type=residence,
            moved_in_on=None
            if residence == "registered"
            else today - timedelta(days=rng.randrange(30, 3650)),
            moved_out_on=today - timedelta(days=rng.randrange(1, 300)) if moved_out else None,
            move_out_reason="迁出" if moved_out else None,
            status="moved_out" if moved_out else "current",
            created_at=made,
            updated_at=made,
        )
        party = age >= 18 and rng.random() < (0.06 if age < 40 else 0.11)
        tags = (["party_member"] if party else []) + (["elderly"] if age >= 60 else [])
        tags += [t for t, p in TAGS if rng.random() < p]
        for tag in tags:
            sink.add(
                "registry.resident_tags",
                resident_id=rid,
                tag=tag,
                community_code=c.code,
                current=not moved_out,
            )
        if not moved_out and 18 <= age <= 72:
            return (rid, name, number, born, phone, party, age, sealed["id_number_index"])
        return None

    def _volunteers(self, sink, c: CommunityPlan, adults, units, party_team, open_team) -> None:
        """Some communities past the 10% target, some short of it; each volunteer a resident
        who registered in the mini-program (an account, an openid), numbered as registration
        numbers them; in-service party members in the party team."""
        rng = self.rng
        want = self.volunteer_targets.get(c.code, 0)
        chosen = rng.sample(adults, min(want, len(adults)))
        for k, (rid, name, number, born, phone, party, age, index) in enumerate(chosen, start=1):
            uid, vid = new_id(), new_id()
            made = _past(rng, self.now, 20, 650)
            self._account(sink, uid, None, "", "resident", None, made, resident_id=rid)
            sink.add(
                "gateway.wechat_identities",
                openid=f"o-bench-{uid}",
                user_id=uid,
                created_at=made,
                last_login_at=made,
            )
            roll = rng.random()
            status = "active" if roll < 0.95 else "pending" if roll < 0.98 else "withdrawn"
            in_service = party and 22 <= age <= 60 and rng.random() < 0.5
            phone = phone or _phone(rng)
            # Their hours lines first: the volunteer keeps its last day of service.
            lines = []
            if status == "active":
                for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
                    day = self.today - timedelta(days=rng.randrange(1, 400))
                    lines.append((day, rng.random() < 0.92, Decimal(rng.choice((1, 1.5, 2, 3, 4)))))
            served = [day for day, approved, _ in lines if approved]
            sink.add(
                "volunteer.volunteers",
                id=vid,
                number=f"V{c.code}{k:05d}",
                user_id=uid,
                community_code=c.code,
                resident_id=rid,
                name=name,
                id_number_enc=self.cipher.encrypt(number, "id_number"),
                id_number_index=index,
                id_number_masked=mask_id_number(number),
                birth_date=born,
                phone_enc=self.cipher.encrypt(phone, "phone"),
                phone_masked=mask_phone(phone),
                skills=_json(rng.choice(([], [], ["medical"], ["teaching"], ["repair"]))),
                in_service_party_member=in_service,
                employer_unit_id=rng.choice(units)[0] if in_service and units else None,
                party_reported_on=(made + timedelta(days=rng.randrange(1, 20))).date()
                if in_service
                else None,
                status=status,
                review_reason="phone_differs" if status == "pending" else None,
                withdrawn_at=made + timedelta(days=30) if status == "withdrawn" else None,
                last_served_on=max(served) if served else None,
                created_at=made,
                updated_at=made,
            )
            if status != "active":
                continue
            self.active_volunteers += 1
            if in_service or rng.random() < 0.3:
                sink.add(
                    "volunteer.team_members",
                    team_id=party_team if in_service else open_team,
                    volunteer_id=vid,
                    joined_at=made,
                )
            for day, approved, hours in lines:
                at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
                sink.add(
                    "volunteer.hours_entries",
                    id=new_id(),
                    volunteer_id=vid,
                    community_code=c.code,
                    kind="activity",
                    service_date=day,
                    hours=hours,
                    status="approved" if approved else "pending",
                    entered_by="bench",
                    approved_by="bench-approver" if approved else None,
                    approved_at=at if approved else None,
                    created_at=at,
                )
        if chosen:
            sink.add("volunteer.number_counters", community_code=c.code, last=len(chosen))

    def _units(self, sink, c: CommunityPlan) -> list[tuple[str, str]]:
        """Resident units 驻区单位 of the community, in proportion to its people, each with
        a valid unified social credit code (GB 32100)."""
        rng = self.rng
        want = self.units.take(c.residents)
        self.units.gave(want)
        out = []
        for _ in range(want):
            self.unit_count += 1
            authority, category, suffix = rng.choice(UNIT_KINDS)
            body = f"{authority}{c.code[:6]}{self.unit_count:08d}{rng.randrange(10)}"
            name = f"{rng.choice(ROADS)}{self.unit_count}{suffix}"
            phone = _phone(rng)
            made = _past(rng, self.now, 200, 700)
            uid = new_id()
            sink.add(
                "registry.units",
                id=uid,
                community_code=c.code,
                name=name,
                uscc=body + uscc.calc_check_digit(body),
                category=category,
                address=f"{c.name}{rng.randint(1, 300)}号",
                contact_name=_name(rng),
                contact_phone_enc=self.cipher.encrypt(phone, "phone"),
                contact_phone_masked=mask_phone(phone),
                party_org_name=f"{name}党支部",
                party_member_count=rng.randint(3, 120),
                created_at=made,
                updated_at=made,
            )
            out.append((uid, name))
        return out

    def _co_building(self, sink, c: CommunityPlan, units: list[tuple[str, str]]) -> None:
        """Agreements of the community's units (most for this year, some from the middle of
        last), two to four pledges each, records against them quarter by quarter, most
        confirmed; and the coordination group's meetings, most quarters."""
        rng, today = self.rng, self.today
        year = today.year
        quarters = [date(year, 3 * q + 1, 1) for q in range(4) if date(year, 3 * q + 1, 1) < today]
        n_agreements = self.agreements.take(c.residents) if units else 0
        self.agreements.gave(n_agreements)
        for i in range(n_agreements):
            unit_id, unit_name = units[i % len(units)]
            aid = new_id()
            this_year = rng.random() < 0.85
            start = date(year, 1, 1) if this_year else date(year - 1, 7, 1)
            end = date(year, 12, 31) if this_year else date(year, 6, 30)
            signed = datetime.combine(start, datetime.min.time(), UTC) - timedelta(
                days=rng.randrange(1, 30)
            )
            active = rng.random() < 0.93
            sink.add(
                "assessment.agreements",
                id=aid,
                root_id=aid,
                version=1,
                unit_id=unit_id,
                unit_name=unit_name,
                community_code=c.code,
                title=f"{unit_name}共驻共建协议",
                term_start=start,
                term_end=end,
                status="active" if active else "draft",
                unit_signed_by="bench-unit",
                unit_signed_at=signed if active else None,
                community_signed_by="bench-community",
                community_signed_at=signed if active else None,
                created_by="bench",
                created_at=signed,
            )
            for _ in range(rng.randint(2, 4)):
                pid = new_id()
                category = rng.choice(PLEDGE_CATEGORIES)
                per = rng.choice(("quarter", "quarter", "half", "year"))
                facility = category == "facilities"
                sink.add(
                    "assessment.pledges",
                    id=pid,
                    agreement_id=aid,
                    category=category,
                    description="共建承诺事项",
                    target_quantity=Decimal(rng.randint(1, 4) * (1 if per == "quarter" else 2)),
                    target_unit="times",
                    per=per,
                    facility_name="活动室" if facility else None,
                    facility_capacity=40 if facility else None,
                    facility_hours="周一至周五 9:00-17:00" if facility else None,
                )
                if not active:
                    continue
                for first in quarters:
                    span = min((today - first).days, 90)
                    for _ in range(rng.choice((0, 1, 1, 2, 3))):
                        day = first + timedelta(days=rng.randrange(span))
                        roll = rng.random()
                        status = "confirmed" if roll < 0.85 else "submitted" if roll < 0.95 else "disputed"  # fmt: skip
                        sink.add(
                            "assessment.fulfilment_records",
                            id=new_id(),
                            pledge_id=pid,
                            agreement_id=aid,
                            unit_id=unit_id,
                            community_code=c.code,
                            day=day,
                            quantity=Decimal(rng.randint(1, 3)),
                            participants=rng.randint(3, 60),
                            description="履约记录",
                            evidence="[]",
                            status=status,
                            reviewed_by=None if status == "submitted" else "bench-community",
                            created_by="bench-unit",
                            created_at=datetime.combine(day, datetime.min.time(), UTC),
                        )
        attending = _json([u for u, _ in units[:5]])
        for first in quarters:
            if rng.random() < 0.8:
                day = first + timedelta(days=rng.randrange(min((today - first).days, 90)))
                sink.add(
                    "assessment.meetings",
                    id=new_id(),
                    community_code=c.code,
                    day=day,
                    attending_units=attending,
                    minutes="共建协调会议纪要",
                    decisions="[]",
                    created_by="bench",
                    created_at=datetime.combine(day, datetime.min.time(), UTC),
                )

    def _cases(self, sink, cell: CellPlan, categories: list) -> None:
        """The cell's share of the year's cases, each taken through the workflow as far as
        time allows: accepted (or rejected), dispatched, handled (most within the deadline
        the grid's calendar gives), some sent back once, verified, closed; a few stall at a
        step and run overdue."""
        rng, now = self.rng, self.now
        n_cases = self.cases.take(cell.residents)
        self.cases.gave(n_cases)
        worker = self.workers[cell.code]
        for _ in range(n_cases):
            cat = rng.choice(categories)
            priority = "urgent" if cat.priority == "urgent" or rng.random() < 0.05 else "normal"
            created = now - timedelta(seconds=rng.randrange(600, 365 * 86400))
            _, blat, blng, label = rng.choice(self.buildings)
            life = self._life(cat, priority, created)
            source = rng.choices(("grid_worker", "resident", "hotline"), (70, 25, 5))[0]
            dispatched = life["dispatched_at"]
            assignee = worker if dispatched and rng.random() < 0.6 else None
            cid = new_id()
            sink.add(
                "grid.cases",
                id=cid,
                category_code=cat.code,
                description=f"{cat.name}：{label}附近",
                address=label,
                lat=blat + rng.uniform(-0.0002, 0.0002),
                lng=blng + rng.uniform(-0.0002, 0.0002),
                cell_code=cell.code,
                community_code=cell.community,
                source=source,
                reporter_id=worker if source == "grid_worker" else None,
                photos="[]",
                priority=priority,
                dispatched_to=("网格员" if assignee else "城管中队") if dispatched else None,
                dispatched_unit_id=None,
                handler_id=worker if life["handled_at"] else None,
                assignee_id=assignee,
                rating=rng.randint(3, 5) if life["closed_at"] and rng.random() < 0.3 else None,
                created_at=created,
                **{k: v for k, v in life.items() if k != "events"},
            )
            for action, before, after, at in life["events"]:
                sink.add(
                    "grid.case_events",
                    id=new_id(),
                    case_id=cid,
                    action=action,
                    from_status=before,
                    to_status=after,
                    actor_id=worker,
                    actor_roles='["grid_worker"]',
                    actor_name=None,
                    data="{}",
                    at=at,
                )

    def _life(self, cat, priority: str, created: datetime) -> dict:
        """How far a case reported at ``created`` got by now, step by step."""
        rng, now, hour = self.rng, self.now, timedelta(hours=1)
        events = [("report", None, "reported", created)]
        status, t = "reported", created
        dispatched = handled = closed = handle_deadline = on_time = None
        rework = 0

        def after(t: datetime, hours: float) -> datetime | None:
            nxt = t + hours * hour
            return None if nxt >= now or rng.random() < 0.004 else nxt  # not yet, or stalled

        nxt = after(t, rng.uniform(0.1, 3))
        if nxt is not None and rng.random() < 0.04:
            events.append(("reject", status, "rejected", nxt))
            status, t = "rejected", nxt
        elif nxt is not None:
            events.append(("accept", status, "accepted", nxt))
            status, t = "accepted", nxt
            nxt = after(t, rng.uniform(0.1, 2))
            while nxt is not None:
                events.append(("return" if rework else "dispatch", status, "dispatched", nxt))
                status, t = "dispatched", nxt
                dispatched = dispatched or t
                handle_deadline = step_deadline(self.calendar, cat, "handle", t, priority)
                allowed = (handle_deadline - t) / hour
                late = rng.uniform(1, 48) if rng.random() < 0.12 else 0
                nxt = after(t, allowed * rng.uniform(0.2, 0.95) + late)
                if nxt is None:
                    break
                events.append(("handle", status, "handled", nxt))
                status, t, handled = "handled", nxt, nxt
                nxt = after(t, rng.uniform(0.3, 4))
                if nxt is None:
                    break
                if not rework and rng.random() < 0.05:
                    rework = 1  # sent back at the check: handled again
                    continue
                events.append(("verify", status, "verified", nxt))
                status, t = "verified", nxt
                nxt = after(t, rng.uniform(0.2, 2))
                if nxt is not None:
                    events.append(("close", status, "closed", nxt))
                    status, t, closed = "closed", nxt, nxt
                    on_time = handled <= handle_deadline
                break
        step = STEP_OF_STATUS.get(status)
        deadline = handle_deadline if step == "handle" else step_deadline(self.calendar, cat, step, t, priority)  # fmt: skip
        # A deadline that passed before now was told of when it passed (the grid's reminder
        # sweep runs every minute): a city already running owes no backlog of reminders.
        told = deadline if deadline is not None and deadline <= now else None
        return {
            "status": status,
            "step": step,
            "deadline_at": deadline,
            "due_soon_told_for": told,
            "overdue_told_for": told,
            "handle_deadline_at": handle_deadline,
            "rework_count": rework,
            "dispatched_at": dispatched,
            "handled_at": handled,
            # What the workflow keeps at the handling step (sent back, counted again from
            # the first dispatch to the last handling).
            "handling_hours": self.calendar.working_hours_between(dispatched, handled)
            if dispatched and handled
            else None,
            "closed_at": closed,
            "closed_on_time": on_time,
            "updated_at": t,
            "events": events,
        }


async def load(settings, loaded_plan: Plan, password_hash: str) -> Loaded:
    """Everything into the migrated, empty database ``settings`` names; figures of the load
    (rows and COPY time per table, the generator's time, index builds, VACUUM, the
    recount). The generator runs in a thread of its own and hands its batches to the COPY
    here through a short queue: the database server digests one batch while the next is
    made (two cores)."""
    cipher = PiiCipher(settings.pii_key, settings.pii_index_key)
    dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    started = time.perf_counter()
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        index_defs = await drop_secondary_indexes(conn)
        # The tables' own triggers (the registry's running counts) stay out of the load, as
        # the indexes do: the recount below rebuilds what they would have kept.
        for table in TABLES:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        categories = [
            SimpleNamespace(**dict(r))
            for r in await conn.fetch("SELECT * FROM grid.case_categories WHERE active")
        ]
        loader = CityLoader(loaded_plan, cipher, password_hash)
        rng = random.Random(5)
        # Volunteers: the city's count spread over communities with a rate of their own
        # (some past the 10% target, some well short of it).
        factors = [c.residents * rng.uniform(0.4, 1.6) for c in loaded_plan.communities]
        for c, v in zip(loaded_plan.communities, _share(loaded_plan.counts["volunteers"], factors), strict=True):  # fmt: skip
            loader.volunteer_targets[c.code] = v
        writer = CopyWriter(conn)
        t0 = time.perf_counter()
        generate_s = await _pipeline(loader, categories, writer)
        generate_and_copy = time.perf_counter() - t0
        copy_total = sum(writer.copy_s.values())
        for table in TABLES:
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        t0 = time.perf_counter()
        for definition in index_defs:
            await conn.execute(definition)
        index_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for table in TABLES:
            await conn.execute(f"VACUUM ANALYZE {table}")
        vacuum_s = time.perf_counter() - t0
    finally:
        await conn.close()
    # The running counts, rebuilt by the registry's own recount (as POST .../recount does).
    database = Database(settings.database_url_for("registry"), schema="registry")
    t0 = time.perf_counter()
    try:
        async with database.transaction() as session:
            await counts.recount(session, CITY[:4])
    finally:
        await database.dispose()
    recount_s = time.perf_counter() - t0
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE registry.population_counts")
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
        tables = await conn.fetch(
            "SELECT n.nspname || '.' || c.relname AS name, pg_total_relation_size(c.oid) AS total,"
            " pg_relation_size(c.oid) AS heap FROM pg_class c JOIN pg_namespace n ON"
            " n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname IN ('registry', 'grid',"
            " 'volunteer', 'assessment', 'gateway') ORDER BY 2 DESC LIMIT 12"
        )
    finally:
        await conn.close()
    total_s = time.perf_counter() - started
    rows = sum(writer.rows.values())
    figures = {
        "rows": rows,
        "seconds": round(total_s, 1),
        # Generation and COPY overlap: their sum is more than this.
        "generate_and_copy_s": round(generate_and_copy, 1),
        # The anchor: the COPY calls alone (asyncpg encoding and the server's work).
        "copy_s": round(copy_total, 1),
        "copy_rows_per_s": round(rows / copy_total) if copy_total else None,
        "generate_s": round(generate_s, 1),
        "index_build_s": round(index_s, 1),
        "indexes_built": len(index_defs),
        "vacuum_analyze_s": round(vacuum_s, 1),
        "recount_s": round(recount_s, 1),
        "tables": {
            t: {"rows": writer.rows[t], "copy_s": round(writer.copy_s[t], 2)} for t in TABLES
        },
        "database_mb": round(size / 2**20),
        "largest_tables_mb": {
            r["name"]: {"total": round(r["total"] / 2**20), "heap": round(r["heap"] / 2**20)}
            for r in tables
        },
    }
    cells = sorted(loader.cell_residents.items(), key=lambda kv: (kv[1], kv[0]))
    by_street: dict[str, int] = {}
    for c in loaded_plan.communities:
        by_street[c.code[:9]] = by_street.get(c.code[:9], 0) + c.residents
    streets = sorted(by_street.items(), key=lambda kv: (kv[1], kv[0]))
    street, street_residents = streets[len(streets) // 2]
    return Loaded(
        figures=figures,
        median_cell=cells[len(cells) // 2][0],
        median_cell_residents=cells[len(cells) // 2][1],
        largest_cell=cells[-1][0],
        largest_cell_residents=cells[-1][1],
        street=street.ljust(12, "0"),
        street_residents=street_residents,
        active_volunteers=loader.active_volunteers,
    )
