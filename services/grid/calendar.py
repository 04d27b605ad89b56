"""Working time: case deadlines count working hours on a calendar (default Monday to Friday,
09:00–17:30 Asia/Shanghai), skipping holidays and honouring make-up working days (调休).
Pure functions over an explicit calendar, so tests can reason about any week."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

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

    def working_hours_many(self, starts_us, ends_us) -> list[float]:
        """``working_hours_between`` for many spans, each given as UTC microseconds since
        the epoch (what the database can hand over without a datetime per value). Each is a
        difference of a running total of working time kept per day over the days the spans
        cover, in numpy; counted in integer microseconds, as timedeltas are, the hours are
        the very floats ``working_hours_between`` gives."""
        starts = np.asarray(starts_us, dtype=np.int64)
        ends = np.asarray(ends_us, dtype=np.int64)
        if not len(starts):
            return []
        first = _from_us(int(min(starts.min(), ends.min()))).astimezone(self.zone).date()
        last = _from_us(int(max(ends.max(), starts.max()))).astimezone(self.zone).date()
        midnights, opens, lengths = [], [], []
        day = first
        while day <= last:
            open_at, close_at = self._bounds(day)
            midnights.append(_us(datetime.combine(day, time(0), self.zone)))
            opens.append(_us(open_at))
            lengths.append(_us(close_at) - _us(open_at) if self.is_workday(day) else 0)
            day += timedelta(days=1)
        midnights, opens, lengths = (
            np.array(a, dtype=np.int64) for a in (midnights, opens, lengths)
        )
        before = np.concatenate(([0], np.cumsum(lengths)[:-1]))

        def worked_by(moments: np.ndarray) -> np.ndarray:
            day = np.searchsorted(midnights, moments, side="right") - 1
            return before[day] + np.clip(moments - opens[day], 0, lengths[day])

        worked = worked_by(ends) - worked_by(starts)
        return np.where(ends > starts, worked / 10**6 / 3600, 0.0).tolist()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(moment: datetime) -> int:
    return _microseconds(moment - _EPOCH)


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _microseconds(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 10**6 + span.microseconds
