"""Working time: case deadlines count working hours on a calendar (default Monday to Friday,
09:00–17:30 Asia/Shanghai), skipping holidays and honouring make-up working days (调休).
Pure functions over an explicit calendar, so tests can reason about any week."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.common.clock import local_zone


@dataclass(frozen=True)
class WorkCalendar:
    zone: ZoneInfo = field(default_factory=local_zone)
    day_start: time = time(9, 0)
    day_end: time = time(17, 30)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # weekend days worked in exchange for a holiday

    @property
    def hours_per_day(self) -> float:
        start = datetime.combine(date.min, self.day_start)
        end = datetime.combine(date.min, self.day_end)
        return (end - start).total_seconds() / 3600

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def _bounds(self, day: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(day, self.day_start, self.zone),
            datetime.combine(day, self.day_end, self.zone),
        )

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` of working time after ``start``."""
        remaining = timedelta(hours=hours)
        cursor = start.astimezone(self.zone)
        for _ in range(3660):  # ten years of days: a bound, never reached in practice
            day = cursor.date()
            if self.is_workday(day):
                open_at, close_at = self._bounds(day)
                begin = max(cursor, open_at)
                if begin < close_at:
                    available = close_at - begin
                    if remaining <= available:
                        return begin + remaining
                    remaining -= available
            cursor = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        raise ValueError("deadline beyond the calendar's reach")

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """End of the ``days``-th working day after ``start``'s day."""
        day = start.astimezone(self.zone).date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        return self._bounds(day)[1]

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        total = timedelta(0)
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            if self.is_workday(day):
                open_at, close_at = self._bounds(day)
                lo, hi = max(open_at, start), min(close_at, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 3600

    def working_hours_many(self, spans: Sequence[tuple[datetime, datetime]]) -> list[float]:
        """``working_hours_between`` for many spans: each a difference of a running total
        of working time (kept per day over the days the spans cover), so a span of weeks
        costs what a span of an hour does. Counted in microseconds, as timedeltas are, the
        hours are the very floats ``working_hours_between`` gives."""
        if not spans:
            return []
        local = [(s.astimezone(self.zone), e.astimezone(self.zone)) for s, e in spans]
        first = min(s.date() for s, _ in local)
        last = max(e.date() for _, e in local)
        days: dict[date, tuple[int, datetime, int]] = {}  # day -> (before it, opens, length)
        total, day = 0, first
        while day <= last:
            open_at, close_at = self._bounds(day)
            length = _microseconds(close_at - open_at) if self.is_workday(day) else 0
            days[day] = (total, open_at, length)
            total += length
            day += timedelta(days=1)

        def worked_by(moment: datetime) -> int:
            before, open_at, length = days[moment.date()]
            return before + min(max(_microseconds(moment - open_at), 0), length)

        return [(worked_by(e) - worked_by(s)) / 10**6 / 3600 if e > s else 0.0 for s, e in local]


def _microseconds(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 10**6 + span.microseconds
