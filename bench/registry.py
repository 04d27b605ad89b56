"""Registry benchmarks (issue: Registry, "Speed").

    python -m bench.registry import sqlite|postgres [csv|xlsx] [rows]
    python -m bench.registry stats  sqlite|postgres [residents]

Each stage runs in its own process (``make bench`` starts them) so that its peak memory is
its own; the last line printed is the stage's figures as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from sqlalchemy import text

from bench.common import Timer, peak_rss_mb, percentiles, platform_on, rss_mb
from bench.synthetic import (
    COMMUNITIES,
    DISTRICT,
    GIVEN,
    STREETS,
    SURNAMES,
    areas,
    write_csv,
    write_xlsx,
)
from services.common.database import json_text
from services.common.settings import DEMO_PASSWORD


async def create_areas(client, auth) -> None:
    for code, name in areas():
        r = await client.post(
            "/api/v1/registry/areas", json={"code": code, "name": name}, headers=auth
        )
        assert r.status_code in (201, 409), r.text


async def bench_import(db: str, fmt: str, rows: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"residents.{fmt}"
        with Timer() as gen:
            (write_csv if fmt == "csv" else write_xlsx)(path, rows)
        size_mb = path.stat().st_size / 1e6
        async with platform_on(db, import_inline_max_bytes=10**10, max_import_bytes=10**9) as (
            app,
            client,
            auth,
        ):
            await create_areas(client, auth)
            database = app.state.embedded_apps[0].state.database
            blank = await blank_copy(database, Path(tmp) / "blank.db")
            rss_before = peak_rss_mb()
            cpu_before = cpu_seconds()
            async with ChildrenPeak() as parser:
                with Timer() as t, path.open("rb") as handle:
                    r = await client.post(
                        "/api/v1/registry/imports",
                        data={"kind": "residents", "create_buildings": "true"},
                        files={"file": (path.name, handle, "application/octet-stream")},
                        headers=auth,
                    )
            job = (
                await client.get(f"/api/v1/registry/imports/{r.json()['id']}", headers=auth)
            ).json()
            assert job["status"] == "done" and job["imported"] == rows, job
            figures = {
                "stage": "import",
                "db": db,
                "format": fmt,
                "rows": rows,
                "file_mb": round(size_mb, 1),
                "seconds": round(t.seconds, 2),
                "rows_per_s": round(rows / t.seconds),
                "file_generation_s": round(gen.seconds, 1),
                "peak_rss_mb_before_import": round(rss_before, 1),
                # Where the time went: this process (the writer; the SQLite library's work
                # too), the roster's parsing process, and the database server's processes.
                **{
                    f"{who}_cpu_s": round(after - cpu_before[who], 2)
                    for who, after in cpu_seconds().items()
                },
                "parser_peak_rss_mb": round(parser.mb, 1),
                "rss_mb_at_rest_after_import": round(rss_mb(), 1),
                "written": await written(database),
            }
            with Timer() as again:
                r = await client.post(
                    "/api/v1/registry/imports",
                    data={"kind": "residents", "create_buildings": "true"},
                    files={"file": (path.name, path.read_bytes(), "application/octet-stream")},
                    headers=auth,
                )
            job = (
                await client.get(f"/api/v1/registry/imports/{r.json()['id']}", headers=auth)
            ).json()
            figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
            figures["reimport_unchanged_rows_per_s"] = round(job["unchanged"] / again.seconds)
            # The anchors, after the figures above (they hold a batch of rows each).
            if db == "postgres":
                figures["copy_ceiling_rows_per_s"] = await copy_ceiling(database, ["residents"])
                figures["copy_ceiling_all_tables_rows_per_s"] = await copy_ceiling(
                    database, list(WRITTEN)
                )
            else:
                figures["insert_ceiling_all_tables_rows_per_s"] = await insert_ceiling(
                    database, blank
                )
    return figures


# What a resident roster writes: the residents, their households and tags, and a history
# entry for each resident and household.
WRITTEN = ("residents", "households", "resident_tags", "change_history")
ANCHOR_BATCH = 5_000  # residents a batch, as an import's on SQLite


def cpu_seconds() -> dict[str, float]:
    """CPU used so far by this process, by the processes it ran and waited for (a roster's
    parser) and by every PostgreSQL server process."""
    tick = os.sysconf("SC_CLK_TCK")
    server = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                name, rest = handle.read().split(") ", 1)
        except OSError:
            continue
        if name.endswith("(postgres"):
            fields = rest.split()
            server += (int(fields[11]) + int(fields[12])) / tick
    own = os.times()
    return {
        "python": own.user + own.system,
        "parser": own.children_user + own.children_system,
        "postgres": server,
    }


class ChildrenPeak:
    """The highest resident memory of this process's children (a roster's parser) while it
    runs, read from /proc every 0.1 s: their ``ru_maxrss`` counts this process's pages,
    which a child shares until it execs."""

    def __init__(self) -> None:
        self.mb = 0.0

    async def __aenter__(self):
        self._task = asyncio.create_task(self._watch())
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()

    async def _watch(self) -> None:
        while True:
            for pid in _children():
                self.mb = max(self.mb, _high_water_mb(pid))
            await asyncio.sleep(0.1)


def _high_water_mb(pid: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children() -> list[str]:
    pids = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as handle:
                pids += handle.read().split()
        except OSError:
            continue
    return pids


async def written(database) -> dict[str, int]:
    async with database.engine.connect() as conn:
        return {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in WRITTEN
        }


async def blank_copy(database, path: Path) -> Path | None:
    """The registry's SQLite file before the import, with its schema, indexes and triggers:
    the SQLite anchor writes the import's rows into it."""
    if not database.is_sqlite:
        return None
    import sqlite3

    def copy() -> None:
        with closing(sqlite3.connect(database.url.split("///", 1)[1])) as source:
            source.execute("VACUUM INTO ?", (str(path),))

    await asyncio.to_thread(copy)
    return path


async def _batches_written(fetch, mark):
    """The import's rows a batch of residents at a time, in the order the import wrote them:
    each batch's new households, its residents, their tags and the history entries of both.
    ``mark(i)``: the driver's i-th placeholder."""

    def marks(n: int, first: int = 0) -> str:
        return ", ".join(mark(first + i) for i in range(n)) or "NULL"

    last, homes_seen = "", set()
    while True:
        residents = await fetch(
            f"SELECT * FROM residents WHERE id > {mark(0)} ORDER BY id LIMIT {ANCHOR_BATCH}",
            last,
        )
        if not residents:
            return
        last = residents[-1][0]
        ids = [r[0] for r in residents]
        homes = list({r[2] for r in residents if r[2]} - homes_seen)
        homes_seen.update(homes)
        yield {
            "households": await fetch(
                f"SELECT * FROM households WHERE id IN ({marks(len(homes))})", *homes
            ),
            "residents": residents,
            "resident_tags": await fetch(
                f"SELECT * FROM resident_tags WHERE resident_id IN ({marks(len(ids))})", *ids
            ),
            "change_history": await fetch(
                f"SELECT * FROM change_history WHERE record_id IN ({marks(len(ids + homes))})",
                *ids,
                *homes,
            ),
        }


async def copy_ceiling(database, tables: list[str]) -> int:
    """The import's rows, already encrypted, written again by bare COPY into tables of the
    same shape (indexes included), a batch a transaction: what the database alone takes.
    Residents a second, whatever else the tables hold."""
    async with database.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        for table in tables:
            await raw.execute(f"CREATE TABLE {table}_copy (LIKE {table} INCLUDING ALL)")

        async def fetch(sql, *args):
            return [tuple(r) for r in await raw.fetch(sql, *args)]

        seconds, residents = 0.0, 0
        async for batch in _batches_written(fetch, lambda i: f"${i + 1}"):
            start = time.perf_counter()
            async with raw.transaction():
                for table in tables:
                    if batch[table]:
                        records = batch[table]
                        if table == "change_history":  # the driver hands JSON back decoded
                            records = [(*r[:7], json_text(r[7]), *r[8:]) for r in records]
                        await raw.copy_records_to_table(f"{table}_copy", records=records)
            seconds += time.perf_counter() - start
            residents += len(batch["residents"])
        for table in tables:
            await raw.execute(f"DROP TABLE {table}_copy")
    return round(residents / seconds)


async def insert_ceiling(database, blank: Path) -> int:
    """SQLite's own: the import's rows written again into the registry's file as it was
    before the import (its indexes and triggers), by the sqlite3 module's multi-row INSERTs
    of the import's size, a batch a transaction, in one thread of their own."""
    import sqlite3

    source = database.url.split("///", 1)[1]

    def run() -> int:
        reader = sqlite3.connect(source)
        target = sqlite3.connect(blank, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            target.execute(f"PRAGMA {pragma}")
        target.execute("PRAGMA cache_size = -16384")

        async def fetch(sql, *args):
            return reader.execute(sql, args).fetchall()

        seconds, residents = 0.0, 0

        async def go():
            nonlocal seconds, residents
            async for batch in _batches_written(fetch, lambda i: "?"):
                start = time.perf_counter()
                target.execute("BEGIN IMMEDIATE")
                for table in WRITTEN:
                    rows = batch[table]
                    for at in range(0, len(rows), 100):
                        chunk = rows[at : at + 100]
                        one = "(" + ", ".join("?" * len(chunk[0])) + ")"
                        values = [v for row in chunk for v in row]
                        target.execute(
                            f"INSERT INTO {table} VALUES " + ", ".join([one] * len(chunk)),
                            values,
                        )
                target.execute("COMMIT")
                seconds += time.perf_counter() - start
                residents += len(batch["residents"])

        asyncio.run(go())
        return round(residents / seconds)

    return await asyncio.to_thread(run)


def _values(codes: list[str]) -> str:
    return ", ".join(f"({i}, '{c}')" for i, c in enumerate(codes))


async def load_population(app, n: int) -> float:
    """n residents spread over the synthetic district, generated by the database itself
    (this stage measures reading, not importing): a third registered, a third permanent, a
    third floating; one in twelve a party member, one in five elderly; three to a household.
    Most are named 某某; one in four has a name of three characters (``searched_name``)."""
    database = app.state.embedded_apps[0].state.database
    k = len(COMMUNITIES)
    communities = f"communities(ci, code) AS (VALUES {_values(COMMUNITIES)})"
    if database.is_sqlite:
        seq = f"seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < {n})"
        born = "date('1940-01-01', '+' || (i % 30000) || ' days')"
        now = "'2026-01-01 00:00:00'"
        with_ = f"WITH RECURSIVE {seq}, {communities}"
        pad = "printf('%064d', i)"
        rid = "printf('r%09d', i)"
        hid = "printf('h%09d', i / 3)"
    else:
        with_ = f"WITH seq(i) AS (SELECT generate_series(0, {n - 1})), {communities}"
        born = "DATE '1940-01-01' + (i % 30000)"
        now = "now()"
        pad = "lpad(i::text, 64, '0')"
        rid = "'r' || lpad(i::text, 9, '0')"
        hid = "'h' || lpad((i / 3)::text, 9, '0')"
    join = f"FROM seq JOIN communities ON communities.ci = ((i / 3) % {k})"
    # substr counts characters on both databases; integer division on both.
    name = (
        f"CASE WHEN i % 4 = 3 THEN substr('{SURNAMES}', (i / 4) % 20 + 1, 1)"
        f" || substr('{GIVEN}', (i / 80) % 20 + 1, 1)"
        f" || substr('{GIVEN}', (i / 1600) % 20 + 1, 1) ELSE '某某' END"
    )
    statements = [
        f"""INSERT INTO households (id, community_code, door_no, created_at, updated_at)
            {with_} SELECT {hid}, code, 'door', {now}, {now} {join} WHERE i % 3 = 0""",
        f"""INSERT INTO residents (id, community_code, household_id, name, id_number_enc,
                id_number_index, id_number_masked, gender, birth_date, residence_type, status,
                created_at, updated_at)
            {with_} SELECT {rid}, code, {hid}, {name}, 'v1.x', {pad}, '410105********0000',
                'male', {born}, CASE i % 3 WHEN 0 THEN 'registered' WHEN 1 THEN 'permanent'
                ELSE 'floating' END, 'current', {now}, {now} {join}""",
        f"""INSERT INTO resident_tags (resident_id, tag, community_code, current)
            {with_} SELECT {rid}, 'party_member', code, true {join} WHERE i % 12 = 0""",
        f"""INSERT INTO resident_tags (resident_id, tag, community_code, current)
            {with_} SELECT {rid}, 'elderly', code, true {join} WHERE i % 5 = 0""",
    ]
    start = time.perf_counter()
    async with database.engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    async with database.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    if not database.is_sqlite:
        # VACUUM cannot run in a transaction: it sets the visibility map that lets the
        # counts be answered from the indexes alone, as autovacuum would in production.
        raw_engine = database.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with raw_engine.connect() as conn:
            await conn.execute(text("VACUUM ANALYZE residents, resident_tags, households"))
    return time.perf_counter() - start


def searched_name(j: int) -> str:
    """The name ``load_population`` gives its (4j + 3)th resident."""
    return SURNAMES[j % 20] + GIVEN[j // 20 % 20] + GIVEN[j // 400 % 20]


async def name_search(app, client, residents: int) -> dict:
    """A street worker types a whole name of three characters: through the gateway, and in
    the registry's database with its text index and without it (the scan it replaced, the
    same run's anchor), which must find the same residents."""
    from services.common.auth import Principal
    from services.common.pagination import PageParams
    from services.registry import repository

    r = await client.post(
        "/api/v1/auth/token", json={"username": "demo-street", "password": DEMO_PASSWORD}
    )
    street = {"Authorization": f"Bearer {r.json()['access_token']}"}
    # Names that exist whatever the size: spread over the first quarter of the residents.
    queries = [searched_name(j * max(1, residents // 4 // 100)) for j in range(100)]
    api_samples, found = [], 0
    for q in queries:
        t0 = time.perf_counter()
        r = await client.get("/api/v1/registry/residents", params={"q": q}, headers=street)
        api_samples.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
        found += len(r.json()["items"])

    database = app.state.embedded_apps[0].state.database
    principal = Principal(user_id="bench", roles=("street_admin",), scope=(STREETS[0][:9],))

    async def timed(session, names_indexed: bool) -> tuple[list[float], list[list[str]]]:
        samples, answers = [], []
        for q in queries:
            stmt = repository.resident_query(principal, q=q, names_indexed=names_indexed)
            t0 = time.perf_counter()
            rows, _ = await repository.list_residents(session, stmt, PageParams(limit=20))
            samples.append((time.perf_counter() - t0) * 1000)
            answers.append([row.id for row in rows])
        return samples, answers

    async with database.session(write=not database.is_sqlite) as session:
        indexed = await repository.resident_names_indexed(session)
        with_index, answers = await timed(session, indexed)
        if not database.is_sqlite:  # the same query once the planner has no trigram index
            await session.execute(text("DROP INDEX IF EXISTS ix_residents_name_trgm"))
        anchor, anchor_answers = await timed(session, False)
        await session.rollback()  # the index stays
    assert answers == anchor_answers
    return {
        "street": STREETS[0],
        "queries": len(queries),
        "found": found,
        "sqlite_trigram_table": indexed,
        "through_gateway": percentiles(api_samples),
        "in_database": percentiles(with_index),
        "in_database_like_scan_anchor": percentiles(anchor),
    }


async def bench_stats(db: str, residents: int) -> dict:
    async with platform_on(db) as (app, client, auth):
        await create_areas(client, auth)
        load_s = await load_population(app, residents)
        with Timer() as recount:  # the rows went straight into the tables: count them once
            r = await client.post(f"/api/v1/registry/areas/{DISTRICT}/recount", headers=auth)
            assert r.status_code == 200, r.text

        async def timed(url: str, n: int) -> tuple[float, dict, list[float]]:
            samples = []
            body = None
            for _ in range(n):
                t0 = time.perf_counter()
                r = await client.get(url, headers=auth)
                samples.append((time.perf_counter() - t0) * 1000)
                body = r.json()
                assert r.status_code == 200, r.text
            return samples[0], body, samples

        first, body, samples = await timed(f"/api/v1/registry/areas/{DISTRICT}/stats", 20)
        assert body["residents"] == residents, body
        first_children, children, child_samples = await timed(
            f"/api/v1/registry/areas/{DISTRICT}/children/stats?level=community", 10
        )
        assert len(children["children"]) == len(COMMUNITIES)
        _, street, _ = await timed(f"/api/v1/registry/areas/{STREETS[0]}/stats", 1)
        page_samples = []
        cursor = None
        for _ in range(200):
            params = {"community": DISTRICT, "limit": 20} | ({"cursor": cursor} if cursor else {})
            t0 = time.perf_counter()
            r = await client.get("/api/v1/registry/residents", params=params, headers=auth)
            page_samples.append((time.perf_counter() - t0) * 1000)
            cursor = r.json()["next_cursor"]
        q_samples = []
        for i in range(100):
            t0 = time.perf_counter()
            await client.get(
                "/api/v1/registry/residents",
                params={"community": COMMUNITIES[i], "q": "某"},
                headers=auth,
            )
            q_samples.append((time.perf_counter() - t0) * 1000)
        three_chars = await name_search(app, client, residents)
    return {
        "stage": "stats",
        "db": db,
        "residents": residents,
        "load_s": round(load_s, 1),
        "recount_s": round(recount.seconds, 2),
        "district_stats_first_ms": round(first, 1),
        "district_stats": percentiles(samples),
        "all_communities_stats_first_ms": round(first_children, 1),
        "all_communities_stats": percentiles(child_samples),
        "street_residents": street["residents"],
        "resident_list_page": percentiles(page_samples),
        "resident_name_search_in_community": percentiles(q_samples),
        "resident_name_search_3_chars_in_street": three_chars,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str]) -> None:
    stage, db = argv[0], argv[1]
    if stage == "import":
        fmt = argv[2] if len(argv) > 2 else "csv"
        rows = int(argv[3]) if len(argv) > 3 else 100_000
        figures = asyncio.run(bench_import(db, fmt, rows))
    else:
        residents = int(argv[2]) if len(argv) > 2 else 1_000_000
        figures = asyncio.run(bench_stats(db, residents))
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
