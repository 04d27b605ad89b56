"""The one source of "now" and "today", and the one rule for reading a time without an offset.

Instants are aware datetimes in UTC everywhere inside the platform. "Today", ages, quarters
and half-years are counted in the deployment's zone (``GONGJIAN_TIMEZONE``, Asia/Shanghai by
default): from 00:00 to 08:00 Beijing time the UTC date is still yesterday. Tests move the
clock instead of sleeping; no other module reads the system time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Shanghai"


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class Clock:
    def __init__(self, zone: str = DEFAULT_ZONE) -> None:
        self._base = timedelta(0)
        self._offset = timedelta(0)
        self._zone_name = zone

    @property
    def zone(self) -> ZoneInfo:
        """The deployment's zone: the zone of "today" and of times sent without an offset."""
        return _zone(self._zone_name)

    def use_zone(self, name: str) -> None:
        _zone(name)  # an unknown zone fails at start-up, not on the first request
        self._zone_name = name

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    def advance(self, delta: timedelta) -> None:
        self._offset += delta

    def set(self, instant: datetime) -> None:
        """Make "now" this instant; time goes on running from there."""
        self._offset = to_utc(instant) - datetime.now(UTC)

    def pin(self, instant: datetime) -> None:
        """Like ``set``, and ``reset`` comes back here rather than to the system time."""
        self.set(instant)
        self._base = self._offset

    def reset(self) -> None:
        self._offset = self._base

    def unpin(self) -> None:
        self._base = self._offset = timedelta(0)


clock = Clock()


def now() -> datetime:
    """The current instant, aware, in UTC."""
    return clock.now()


def system_now() -> datetime:
    """The machine's own time, never moved by tests: for what another program stamps (a
    broker's message times), not for the platform's own "now"."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date in the deployment's zone."""
    return clock.today()


def local_zone() -> ZoneInfo:
    return clock.zone


def to_utc(value: datetime) -> datetime:
    """An aware instant in UTC. A time without an offset means the deployment's zone, as
    ``shared/docs/api.md`` says of every time a client sends."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.zone)
    return value.astimezone(UTC)


def to_local(value: datetime) -> datetime:
    """The same instant in the deployment's zone (for dates and for display)."""
    return to_utc(value).astimezone(clock.zone)


def local_date(value: datetime) -> date:
    """The calendar day an instant falls on in the deployment's zone."""
    return to_local(value).date()


def start_of_day(day: date) -> datetime:
    """00:00 of a local calendar day, as an aware instant."""
    return datetime(day.year, day.month, day.day, tzinfo=clock.zone)
