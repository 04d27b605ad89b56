"""Request rate limits: per client address, per user, per login name. One algorithm, a
sliding minute estimated from per-minute counts, over two stores: this process's memory (one
gateway), or the gateway's own database shared by every gateway replica.

Why the database and not Redis: every deployment with more than one gateway already runs
PostgreSQL, and the suite tests it; Redis would be one more stateful server to run, secure
and test for a figure that may be off by a fraction of a second. A request never waits for
the database: a replica counts locally and, every ``rate_limit_sync_s``, adds its counts to
the shared rows in one statement and reads the totals back, so the replicas together admit
at most what they see within one interval above the limit.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from gateway.models import RateCount
from services.common.clock import clock
from services.common.database import Database
from services.common.settings import Settings

log = logging.getLogger("gongjian.ratelimits")

WINDOW_S = 60.0
_BATCH = 500  # keys per upsert statement


class MinuteCounts:
    """Requests per key and minute (minutes since the epoch). Alone it is one process's
    memory; ``SharedMinuteCounts`` adds the other replicas' counts."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int], int] = defaultdict(int)
        self._minute = 0

    def count(self, key: str, minute: int) -> int:
        return self._pending.get((key, minute), 0)

    def add(self, key: str, minute: int) -> None:
        if minute > self._minute:
            # Once a minute, forget what no longer counts: memory follows the traffic of
            # the last two minutes, not of the process's life.
            self._minute = minute
            self._pending = defaultdict(
                int, {k: v for k, v in self._pending.items() if k[1] >= minute - 1}
            )
        self._pending[(key, minute)] += 1


class SharedMinuteCounts(MinuteCounts):
    def __init__(self, database: Database, interval_s: float) -> None:
        super().__init__()
        self.database = database
        self.interval_s = interval_s
        self._shared: dict[tuple[str, int], int] = {}
        self._pruned_minute = 0

    def count(self, key: str, minute: int) -> int:
        return self._shared.get((key, minute), 0) + self._pending.get((key, minute), 0)

    async def sync(self, minute: int) -> None:
        pending, self._pending = self._pending, defaultdict(int)
        rows = sorted(
            ((key, m, hits) for (key, m), hits in pending.items() if m >= minute - 1),
            key=lambda row: (row[1], row[0]),  # one lock order on every replica
        )
        try:
            totals = await self._add(rows)
            if minute > self._pruned_minute:
                await self._prune(minute)
        except (SQLAlchemyError, OSError) as exc:
            # The database is away: keep counting here and share it at the next sync.
            log.warning("rate counts not shared: %s", exc)
            for (key, m), hits in pending.items():
                self._pending[(key, m)] += hits
            return
        self._shared = {k: v for k, v in self._shared.items() if k[1] >= minute - 1}
        self._shared.update(totals)

    async def _add(self, rows: list[tuple[str, int, int]]) -> dict[tuple[str, int], int]:
        totals: dict[tuple[str, int], int] = {}
        if not rows:
            return totals
        async with self.database.transaction() as session:
            insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
            table = RateCount.__table__
            for start in range(0, len(rows), _BATCH):
                values = [
                    {"key": key, "minute": m, "hits": hits}
                    for key, m, hits in rows[start : start + _BATCH]
                ]
                statement = insert(table).values(values)
                statement = statement.on_conflict_do_update(
                    index_elements=[table.c.key, table.c.minute],
                    set_={"hits": table.c.hits + statement.excluded.hits},
                ).returning(table.c.key, table.c.minute, table.c.hits)
                for key, m, hits in (await session.execute(statement)).all():
                    totals[(key, m)] = hits
        return totals

    async def _prune(self, minute: int) -> None:
        async with self.database.transaction() as session:
            await session.execute(delete(RateCount).where(RateCount.minute < minute - 1))
        self._pruned_minute = minute

    async def run(self, now) -> None:
        """Share the counts every interval until cancelled; ``now`` gives epoch seconds."""
        while True:
            await asyncio.sleep(self.interval_s)
            await self.sync(int(now() // WINDOW_S))


class SlidingWindow:
    """At most ``rate_per_min`` requests in any minute, estimated from this minute's count
    and the last minute's, weighted by how much of the last minute is still inside the
    minute that ends now (the estimate Cloudflare describes for its own limiter)."""

    def __init__(self, counts: MinuteCounts, rate_per_min: int, prefix: str) -> None:
        self.counts = counts
        self.rate = rate_per_min
        self.prefix = prefix

    def take(self, key: str, now: float) -> float:
        """Count one request at ``now`` (epoch seconds); 0 if allowed, else the seconds
        until one would be."""
        key = f"{self.prefix}:{key}"
        minute, into = divmod(now, WINDOW_S)
        minute = int(minute)
        current = self.counts.count(key, minute)
        previous = self.counts.count(key, minute - 1)
        weight = 1.0 - into / WINDOW_S
        if current + previous * weight + 1 <= self.rate:
            self.counts.add(key, minute)
            return 0.0
        return self._wait(current, previous, into)

    def _wait(self, current: int, previous: int, into: float) -> float:
        room = self.rate - 1 - current
        if room < 0 or previous == 0:
            return WINDOW_S - into  # only the next minute has room
        # previous * (1 - (into + wait) / W) <= room
        wait = WINDOW_S * (1 - room / previous) - into
        return max(wait, 0.001) if math.isfinite(wait) else WINDOW_S - into


def minute_counts(settings: Settings, database: Database) -> MinuteCounts:
    """The store the deployment asks for: shared through the database when several gateway
    replicas may serve (the split mode, unless told otherwise), memory otherwise."""
    if settings.shared_rate_limits:
        return SharedMinuteCounts(database, settings.rate_limit_sync_s)
    return MinuteCounts()


class EdgeLimits:
    """Every limit the gateway applies at its edge, over one store: requests per client
    address and per user, and password logins per address and per login name."""

    def __init__(self, settings: Settings, counts: MinuteCounts | None = None) -> None:
        self.settings = settings
        self.use(counts or MinuteCounts())

    def use(self, counts: MinuteCounts) -> None:
        s = self.settings
        self.counts = counts
        self.per_ip = SlidingWindow(counts, s.rate_limit_ip_per_min, "ip")
        self.per_user = SlidingWindow(counts, s.rate_limit_user_per_min, "user")
        self.login_per_ip = SlidingWindow(counts, s.login_rate_ip_per_min, "login-ip")
        self.login_per_name = SlidingWindow(counts, s.login_rate_username_per_min, "login-name")

    @staticmethod
    def now() -> float:
        return clock.now().timestamp()

    def request(self, *, address: str, user: str | None) -> float:
        now = self.now()
        wait = self.per_ip.take(address, now)
        if user and not wait:
            wait = self.per_user.take(user, now)
        return wait

    def login(self, *, address: str, username: str) -> float:
        now = self.now()
        return self.login_per_ip.take(address, now) or self.login_per_name.take(
            username.strip().lower(), now
        )

    async def run(self) -> None:
        """Share the counts with the other replicas until cancelled (nothing in memory)."""
        if isinstance(self.counts, SharedMinuteCounts):
            await self.counts.run(self.now)
