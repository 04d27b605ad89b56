"""Reporting periods as the platform writes them: ``2026`` (a year), ``2026H2`` (a half),
``2026Q3`` (a quarter), ``2026-07`` (a month); boundaries in the deployment's zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from services.common.validators import InvalidValue, Localized

_PERIOD = re.compile(r"^([0-9]{4})(?:(H)([12])|(Q)([1-4])|-([0-9]{2}))?$")
# Periods the platform can hold records for; year 0000 or 9999 is a typo, not a period.
FIRST_YEAR, LAST_YEAR = 1949, 2199


@dataclass(frozen=True)
class Period:
    label: str
    start: date  # first day
    end: date  # first day after

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return datetime.combine(self.start, time(0), zone), datetime.combine(
            self.end, time(0), zone
        )

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    @property
    def name(self) -> str:
        """As an official writes it: 2026年第三季度, 2026年下半年, 2026年7月."""
        year = self.start.year
        span = (self.end.year - year) * 12 + self.end.month - self.start.month
        if span == 12:
            return f"{year}年"
        if span == 6:
            return f"{year}年{'上' if self.start.month == 1 else '下'}半年"
        if span == 3:
            return f"{year}年第{'一二三四'[(self.start.month - 1) // 3]}季度"
        return f"{year}年{self.start.month}月"


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse_period(label: str) -> Period:
    match = _PERIOD.match(label.strip())
    if not match:
        raise InvalidValue(
            "period_invalid", Localized("应如 2026、2026H2、2026Q3", "like 2026, 2026H2, 2026Q3")
        )
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidValue(
            "period_invalid",
            Localized(f"年份应在 {FIRST_YEAR}–{LAST_YEAR} 之间", f"year {FIRST_YEAR}–{LAST_YEAR}"),
        )
    if match.group(2):
        first = 1 + 6 * (int(match.group(3)) - 1)
        months = 6
    elif match.group(4):
        first = 1 + 3 * (int(match.group(5)) - 1)
        months = 3
    elif match.group(6):
        first = int(match.group(6))
        if not 1 <= first <= 12:
            raise InvalidValue("period_invalid", Localized("月份无效", "no such month"))
        months = 1
    else:
        first, months = 1, 12
    return Period(label.strip(), _month_start(year, first), _month_start(year, first + months))


def quarters_in(period: Period) -> list[Period]:
    out = []
    day = period.start
    while day < period.end:
        q = (day.month - 1) // 3 + 1
        out.append(parse_period(f"{day.year}Q{q}"))
        day = out[-1].end
    return out


def period_or_422(label: str, field: str = "period") -> Period:
    """``parse_period`` for a request: a bad label is a 422 naming the field."""
    from services.common.errors import FieldError, Unprocessable

    try:
        return parse_period(label)
    except InvalidValue as exc:
        raise Unprocessable(
            "validation.period_invalid",
            errors=[FieldError(field, exc.code, {"reason": exc.reason})],
        ) from None
