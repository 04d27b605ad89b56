"""Assessment rules as plain functions: how an indicator turns a community's figures into a
value and a pass or fail, how a pledge's fulfilment is measured, who may move an
application. Exact fractions, so 10.0% passes a 10% threshold and 9.9% does not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

CATEGORIES = ("party_building", "ideology", "services", "facilities", "security", "sanitation")
PER = {"quarter": 1, "half": 2, "year": 4}  # in quarters
# The six joint areas as seed 001 names them, and how targets read.
CATEGORY_NAMES = {
    "party_building": "党建联创",
    "ideology": "思想联做",
    "services": "服务联办",
    "facilities": "设施联管",
    "security": "治安联防",
    "sanitation": "卫生联抓",
}
TARGET_UNIT_NAMES = {
    "times": "次",
    "people": "人",
    "hours": "小时",
    "yuan": "元",
    "m2": "m²",
    "opening_hours_per_week": "小时/周",
}
PER_NAMES = {"quarter": "每季度", "half": "每半年", "year": "每年"}
# The states and steps of agreements, fulfilment records and applications in words: the
# answers name them beside their codes, and the change history reads by the same tables.
AGREEMENT_STATUS_NAMES = {
    "draft": "待签署",
    "active": "生效中",
    "terminated": "已终止",
    "superseded": "已被替代",
    "expired": "已到期",
}
RECORD_STATUS_NAMES = {"submitted": "待确认", "confirmed": "已确认", "disputed": "有异议"}
APPLICATION_STATUS_NAMES = {
    "submitted": "待街道推荐",
    "recommended": "待区级审批",
    "approved": "已批准",
    "rejected": "已驳回",
}
APPLICATION_ACTION_NAMES = {
    "submit": "提交申请",
    "recommend": "街道推荐",
    "approve": "区级批准",
    "reject": "驳回",
}
# Units that are a rate per week: the pledge asks that many in every week of any period
# (its ``per`` says nothing), a quarter being 13 weeks.
WEEKLY_UNITS = frozenset({"opening_hours_per_week"})
WEEKS_PER_QUARTER = 13


def name_of(names: dict[str, str], code: str | None) -> str | None:
    """A code in words; a code the table does not hold as itself, None as None."""
    return None if code is None else names.get(code, code)


def target_unit_name(unit: str) -> str:
    """次, 小时/周: a pledge's target unit in words."""
    return TARGET_UNIT_NAMES.get(unit, unit)


def counted_unit_name(unit: str) -> str:
    """The unit a pledge's records, progress and score count in: a weekly rate's records
    are hours (16 小时/周 over a quarter asks 208 小时), any other unit its own."""
    return TARGET_UNIT_NAMES["hours"] if unit in WEEKLY_UNITS else target_unit_name(unit)


COMPARE = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}


@dataclass
class Evaluation:
    value: Fraction | None
    numerator: Fraction | None
    denominator: Fraction | None
    threshold: Fraction
    passed: bool


def _frac(value: Any) -> Fraction | None:
    if value is None:
        return None
    if type(value) is int:  # a count: most figures, and the quick way
        return Fraction(value)
    return Fraction(Decimal(str(value)))


@lru_cache(maxsize=4096)
def _constant(value: Any) -> Fraction:
    """An indicator's threshold or factor as a fraction: the same few for every community."""
    return Fraction(Decimal(str(value)))


@dataclass(frozen=True)
class Standard:
    """An indicator made ready to judge many communities: its constants read and made
    fractions once, not once a community (a city has thousands)."""

    code: str
    name: str
    source: str
    kind: str
    numerator: str | None
    denominator: str | None
    factor: Fraction
    threshold: Fraction
    comparator: str
    weight: Fraction
    unit: str | None

    @classmethod
    def of(cls, indicator, quarters: int) -> Standard:
        threshold = _constant(indicator.threshold)
        if indicator.per_quarter:
            threshold *= quarters
        return cls(
            code=indicator.code,
            name=indicator.name,
            source=indicator.source,
            kind=indicator.kind,
            numerator=indicator.numerator,
            denominator=indicator.denominator,
            factor=_constant(indicator.factor),
            threshold=threshold,
            comparator=indicator.comparator,
            weight=Fraction(indicator.weight),
            unit=indicator.unit,
        )

    def evaluate(self, figures: dict[str, Any]) -> Evaluation:
        """``figures``: what the sources said of one community, by name."""
        threshold, compare = self.threshold, COMPARE[self.comparator]
        numerator = _frac(figures.get(self.numerator)) if self.numerator else None
        if self.kind == "ratio":
            denominator = _frac(figures.get(self.denominator))
            if numerator is None or not denominator:
                return Evaluation(None, numerator, denominator, threshold, False)
            value = numerator / denominator * self.factor
            return Evaluation(value, numerator, denominator, threshold, compare(value, threshold))
        if numerator is None:
            return Evaluation(None, None, None, threshold, False)
        return Evaluation(numerator, numerator, None, threshold, compare(numerator, threshold))


def evaluate(indicator, figures: dict[str, Any], quarters: int) -> Evaluation:
    """``figures``: what the sources said of one community, by name."""
    return Standard.of(indicator, quarters).evaluate(figures)


def as_number(value: Fraction | None, places: int = 4) -> float | None:
    return None if value is None else round(float(value), places)


def _plain(number: float, places: int = 2) -> str:
    """A number as an official writes it: thousands grouped, no trailing zeros, no float
    noise (138,888.89; 320; 0.75)."""
    text = f"{round(number, places):,.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def shown_value(value: float | None, unit: str | None) -> str:
    """An indicator's value as the export shows it: a ratio in per cent (0.0075 → 0.75%),
    a figure with its unit (320 m², 6 人), and 无数据 where there is none."""
    if value is None:
        return NO_DATA
    if unit == "%":
        return f"{_plain(value * 100)}%"
    return f"{_plain(value)} {unit}" if unit else _plain(value)


def _places(number: float, most: int = 2) -> int:
    """How many decimal places ``number`` needs, up to ``most`` (0.75 → 2, 320 → 0)."""
    for places in range(most):
        if round(number, places) == round(number, most):
            return places
    return most


def number_format(value: float, unit: str | None) -> str:
    """The Excel number format that shows ``value`` as ``shown_value`` writes it: a ratio as
    a percentage (0.0075 → 0.75%), a figure grouped with its unit (320 m²), no more places
    than it has."""
    if unit == "%":
        places = _places(value * 100)
        return "0" + ("." + "0" * places if places else "") + "%"
    places = _places(value)
    text = "#,##0" + ("." + "0" * places if places else "")
    unit = (unit or "").replace('"', "")
    return f'{text}" {unit}"' if unit else text


def shown_standard(comparator: str, threshold: float, unit: str | None) -> str:
    return f"{comparator.replace('>=', '≥').replace('<=', '≤')} {shown_value(threshold, unit)}"


def shown_result(value: float | None, passed: bool) -> str:
    """达标 / 未达标; no figure counts as not met, and says so."""
    if value is None:
        return f"{NOT_MET}({NO_DATA})"
    return MET if passed else NOT_MET


NO_DATA, MET, NOT_MET = "无数据", "达标", "未达标"


def period_of(per: str, day: date) -> str:
    """The label of the pledge's period (``per``) holding ``day``: 2026Q3, 2026H2, 2026."""
    if per == "quarter":
        return f"{day.year}Q{(day.month - 1) // 3 + 1}"
    if per == "half":
        return f"{day.year}H{(day.month - 1) // 6 + 1}"
    return str(day.year)


def pledge_target(target: Decimal, unit: str, per: str) -> str:
    """每季度 1 次, 每周 16 小时: a pledge's target as its parties read it."""
    if unit in WEEKLY_UNITS:
        return f"每周 {_plain(float(target))} 小时"
    return f"{PER_NAMES[per]} {_plain(float(target))} {TARGET_UNIT_NAMES.get(unit, unit)}"


@lru_cache(maxsize=4096)
def pledge_required(target: Decimal, per: str, quarters: int, unit: str = "") -> Fraction:
    """What the pledge asks over ``quarters`` quarters (the same few targets recur: kept)."""
    if unit in WEEKLY_UNITS:
        return Fraction(Decimal(target)) * quarters * WEEKS_PER_QUARTER
    return Fraction(Decimal(target)) * Fraction(quarters, PER[per])


def percent(done: Fraction, required: Fraction) -> float:
    """Done ÷ required in per cent, to one place, capped at 100 (what counts)."""
    if required <= 0:
        return 100.0
    return round(float(min(Fraction(1), done / required) * 100), 1)


def pledge_fulfilment(
    target: Decimal, per: str, quarters: int, achieved: Decimal, unit: str = ""
) -> Fraction:
    """Achieved ÷ what the pledge asks over the period, capped at 1."""
    required = pledge_required(target, per, quarters, unit)
    if required <= 0:
        return Fraction(1)
    return min(Fraction(1), Fraction(Decimal(achieved)) / required)


# Why a unit's score is flagged: the stable code and the sentence a unit contact reads.
FLAG_SCORE_BELOW_LINE = "score_below_flag_line"
FLAG_PLEDGE_SHORT = "pledge_short"


def unit_flags(score: float, flag_below: float, pledges: list[dict]) -> list[tuple[str, str]]:
    """The reasons a unit is flagged (none: it is not): its score under the line, then each
    pledge that fell short of what the period asks, as ``pledge_score`` gives them."""
    if score >= flag_below:
        return []
    reasons = [
        (
            FLAG_SCORE_BELOW_LINE,
            f"履约得分 {_plain(score)} 分,低于 {_plain(flag_below)} 分的警示线。",
        )
    ]
    for p in pledges:
        if p["percent"] >= 100:
            continue
        unit = p["unit_name"]
        reasons.append(
            (
                FLAG_PLEDGE_SHORT,
                f"{p['category_name']}“{p['description']}”:本期要求 {_plain(p['required'])} "
                f"{unit},已确认 {_plain(p['done'])} {unit},完成 {_plain(p['percent'])}%。",
            )
        )
    return reasons


# Model-community applications: an open status -> the level that acts on it, the permission
# that level's accounts hold for it, and the actions it may take.
APPLICATION_STEPS = {
    "submitted": ("street", "assessment:recommend", ("recommend", "reject")),
    "recommended": ("district", "assessment:approve", ("approve", "reject")),
}
APPLICATION_OUTCOME = {"recommend": "recommended", "approve": "approved", "reject": "rejected"}


def level_of(scope: tuple[str, ...], unrestricted: bool, community: str) -> str | None:
    """Which level the caller acts at for a community: district (a scope of 6 digits or less
    covering it), street (9 digits), or community (12)."""
    if unrestricted:
        return "district"
    best = None
    for prefix in scope:
        if not community.startswith(prefix):
            continue
        level = "district" if len(prefix) <= 6 else "street" if len(prefix) <= 9 else "community"
        order = {"community": 0, "street": 1, "district": 2}
        if best is None or order[level] > order[best]:
            best = level
    return best
