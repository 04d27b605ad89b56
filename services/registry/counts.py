"""The running population counts behind the statistics (see ``PopulationCount``).

Every change to who lives where goes through ``add``, inside the transaction that makes the
change; an upsert adds the delta atomically, so concurrent writers never lose a count. The
birth-year counts are the database's own (triggers on ``residents``): ``add`` never sees
them, ``recount`` rebuilds them with the rest."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import Integer, cast, delete, extract, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.scope import prefix_clause
from services.registry.models import Household, PopulationCount, Resident, ResidentTag

Key = tuple[str, str, str]  # community, dimension, value


def resident_keys(community: str, residence_type: str, tags: Iterable[str]) -> list[Key]:
    return [(community, "residence", residence_type), *((community, "tag", t) for t in tags)]


def household_key(community: str) -> Key:
    return (community, "households", "all")


# SQLite: one statement run per row with executemany (prepared once). PostgreSQL: one
# statement for all rows, the deltas as arrays — an import batch touches a thousand counts,
# and a thousand executions cost more than the work they do.
_UPSERT_ARRAYS = text(
    "INSERT INTO population_counts (community_code, dimension, value, n) "
    "SELECT * FROM unnest(CAST(:communities AS text[]), CAST(:dimensions AS text[]), "
    "CAST(:values AS text[]), CAST(:ns AS integer[])) "
    "ON CONFLICT (community_code, dimension, value) "
    "DO UPDATE SET n = population_counts.n + excluded.n"
)
_UPSERT = text(
    "INSERT INTO population_counts (community_code, dimension, value, n) "
    "VALUES (:community_code, :dimension, :value, :n) "
    "ON CONFLICT (community_code, dimension, value) "
    "DO UPDATE SET n = population_counts.n + excluded.n"
)


async def add(session: AsyncSession, deltas: Counter) -> None:
    rows = [
        {"community_code": c, "dimension": d, "value": v, "n": n}
        for (c, d, v), n in deltas.items()
        if n
    ]
    if not rows:
        return
    if session.bind.dialect.name == "postgresql":
        # Sorted, so that two writers take the rows' locks in the same order.
        rows.sort(key=lambda r: (r["community_code"], r["dimension"], r["value"]))
        await session.execute(
            _UPSERT_ARRAYS,
            {
                "communities": [r["community_code"] for r in rows],
                "dimensions": [r["dimension"] for r in rows],
                "values": [r["value"] for r in rows],
                "ns": [r["n"] for r in rows],
            },
        )
    else:
        await session.execute(_UPSERT, rows)


async def recount(session: AsyncSession, prefix: str) -> None:
    """Rebuild the counts under ``prefix`` from the residents, tags and households."""
    await session.execute(
        delete(PopulationCount).where(prefix_clause(PopulationCount.community_code, prefix))
    )
    deltas: Counter = Counter()
    # One pass over the residents for both of their dimensions, grouped by the year as a
    # number (a text key made PostgreSQL sort a million rows on disk).
    birth_year = cast(extract("year", Resident.birth_date), Integer)
    residents = (
        select(Resident.community_code, Resident.residence_type, birth_year, func.count())
        .where(Resident.status == "current", prefix_clause(Resident.community_code, prefix))
        .group_by(Resident.community_code, Resident.residence_type, birth_year)
    )
    for community, residence_type, year, n in await session.execute(residents):
        deltas[(community, "residence", residence_type)] += n
        deltas[(community, "born", f"{year:04d}")] += n  # 'YYYY', as the triggers write it
    sources = [
        select(ResidentTag.community_code, literal("tag"), ResidentTag.tag, func.count())
        .where(ResidentTag.current.is_(True), prefix_clause(ResidentTag.community_code, prefix))
        .group_by(ResidentTag.community_code, ResidentTag.tag),
        select(Household.community_code, literal("households"), literal("all"), func.count())
        .where(prefix_clause(Household.community_code, prefix))
        .group_by(Household.community_code),
    ]
    for source in sources:
        for community, dimension, value, n in await session.execute(source):
            deltas[(community, dimension, value)] += n
    await add(session, deltas)
