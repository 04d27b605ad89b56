"""A synthetic district, seeded and reproducible: 10 streets of 20 communities."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from stdnum.cn import ric

DISTRICT = "410105000000"
STREETS = [f"410105{s:03d}000" for s in range(1, 11)]
COMMUNITIES = [street[:9] + f"{c:03d}" for street in STREETS for c in range(1, 21)]
HEADER = [
    "姓名",
    "身份证号",
    "手机号",
    "社区代码",
    "楼栋",
    "门牌号",
    "与户主关系",
    "居住类型",
    "标签",
    "迁入日期",
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超华"


def areas() -> list[tuple[str, str]]:
    out = [(DISTRICT, "金水区")]
    out += [(s, f"第{i + 1}街道") for i, s in enumerate(STREETS)]
    out += [(c, f"社区{c[-6:]}") for c in COMMUNITIES]
    return out


def id_number(rng: random.Random, serial: int) -> str:
    """Unique per serial: the birth date and order code are drawn from the serial."""
    born = date(1940, 1, 1) + timedelta(days=serial // 1000 % 25_000)
    body = f"410105{born:%Y%m%d}{serial % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


RELATIONS = ("户主", "配偶", "子女")


def resident_rows(n: int, seed: int = 7):
    """A district's roster: the communities' rows interleaved, three people to a door (the
    head first; 2.6 is a Chinese household's mean), 120 doors to a building (three units of
    forty)."""
    rng = random.Random(seed)
    for i in range(n):
        community = COMMUNITIES[i % len(COMMUNITIES)]
        k = i // len(COMMUNITIES)
        door = k // 3
        tags = "党员" if rng.random() < 0.08 else ""
        yield [
            rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
            id_number(rng, i),
            f"13{rng.randrange(10)}{rng.randrange(10**8):08d}",
            community,
            f"{door // 120 % 40 + 1}号楼",
            f"{door // 40 % 3 + 1}单元{door % 40 + 101}",
            RELATIONS[k % 3],
            rng.choice(("户籍", "户籍", "常住", "流动")),
            tags,
            "",
        ]


def write_csv(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(resident_rows(n))
    return path


def write_xlsx(path: Path, n: int) -> Path:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("residents")
    ws.append(HEADER)
    for row in resident_rows(n):
        ws.append(row)
    wb.save(path)
    return path
