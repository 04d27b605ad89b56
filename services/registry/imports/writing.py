"""Writing a roster's rows a batch at a time, in two steps that overlap across batches.

``Writer.prepare`` reads what exists (on a reading connection) and works out everything the
batch writes: new and changed rows, history entries, the population counts it moves, the
rows it refuses. ``Writer.apply`` writes that in one transaction (COPY on PostgreSQL,
multi-row inserts on SQLite) with the bad rows kept and the job's progress. The job
prepares the next batch while this one is applied, so our Python and the database's work on
the last batch run at once instead of in turn (jobs.py).

Preparing ahead of the last batch's commit is sound because a roster names each person once
(the parser refuses a repeated ID number), and the buildings and households a batch creates
are known to the writer from the moment it plans them. Someone registering a roster's person
through the form between the two steps is met in ``apply``: that row is refused, the rest
kept.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.clock import clock
from services.common.database import (
    BoundInsert,
    Database,
    bind_insert,
    bulk_insert_rows,
    insert_bound,
    one_of,
)
from services.common.history import ENTRY_COLUMNS, entry_rows
from services.common.ids import new_id
from services.common.pii import PiiCipher, mask_phone
from services.registry import counts, repository
from services.registry.imports.rows import (
    PHONE_COLUMNS,
    SEALED_COLUMNS,
    Parsed,
    RosterResident,
    as_text,
    spaceless,
)
from services.registry.models import (
    Building,
    Household,
    ImportError_,
    ImportJob,
    Resident,
    ResidentTag,
    Unit,
    change_history,
)
from services.registry.service.history import FIELDS as HISTORY_FIELDS
from services.registry.service.history import household_label

MAX_ERRORS_KEPT = 100_000
# Buildings a job created, listed on it (a roster of a new community may create a few
# hundred; a list past this many says nothing more to the person reading it).
MAX_CREATED_LISTED = 1_000


# The page cache of the connection that writes a job's batches on SQLite, in KiB (its default
# is 2 MiB): a batch dirties pages all over the blind indexes, and a cache smaller than those
# spills them to the WAL before the commit and reads them back. Given back after the job.
SQLITE_BATCH_CACHE_KIB = 16 * 1024


# Rows prepared between two turns of the event loop (~3 ms of work): while a batch is
# prepared, the loop goes on answering requests and handing the batch in flight's next
# statement to the database.
YIELD_ROWS = 64

# The columns of the rows a batch inserts, in the order ``prepare`` builds them.
RESIDENT_COLUMNS = (
    "id",
    "community_code",
    "household_id",
    "building_id",
    "name",
    "relation_to_head",
    "residence_type",
    "moved_in_on",
    "status",
    "created_at",
    "updated_at",
    *SEALED_COLUMNS,
)
TAG_COLUMNS = ("resident_id", "tag", "community_code", "current")
BUILDING_COLUMNS = ("id", "community_code", "name", "created_at", "updated_at")
HOUSEHOLD_COLUMNS = (
    "id",
    "community_code",
    "building_id",
    "door_no",
    "head_name",
    "created_at",
    "updated_at",
)


class LeaseLost(Exception):
    """The job's lease ran out and another replica took it up: this run stops."""


@dataclass
class Tally:
    total: int = 0
    imported: int = 0
    unchanged: int = 0
    failed: int = 0
    kept_errors: int = 0


@dataclass
class Plan:
    """What one batch writes, worked out by ``prepare`` for ``apply``: the rows to insert
    bound already as the driver takes them (``bind``), so that applying holds the event
    loop no longer than the driver's calls take."""

    batch: list[Parsed]
    # New buildings and households, in the order they go in.
    inserts: list[BoundInsert] = field(default_factory=list)
    # New residents, apart: one registered meanwhile refuses its row, not the batch.
    residents: list[tuple] = field(default_factory=list)
    resident_rows: dict[str, Parsed] = field(default_factory=dict)  # by new resident id
    tags: list[tuple] = field(default_factory=list)
    # Changes to what exists: (statement, the executemany's parameters).
    updates: list[tuple[Any, list[dict]]] = field(default_factory=list)
    retags: list[tuple[str, str, list[str]]] = field(default_factory=list)
    history: list[tuple] = field(default_factory=list)  # change_history rows
    deltas: Counter = field(default_factory=Counter)  # population counts moved
    created: list[dict] = field(default_factory=list)  # buildings created, to list on the job
    imported: int = 0
    unchanged: int = 0
    bound: dict[str, BoundInsert] = field(default_factory=dict)  # residents, tags, history

    def bind(self, dialect) -> None:
        for name, table, columns, rows in (
            ("residents", Resident.__table__, RESIDENT_COLUMNS, self.residents),
            ("tags", ResidentTag.__table__, TAG_COLUMNS, self.tags),
            ("history", change_history, ENTRY_COLUMNS, self.history),
        ):
            self.bound[name] = bind_insert(dialect, table, columns, rows)


ROW_FIELD = "import_row"


def seal_row(cipher: PiiCipher, values: list[str]) -> str:
    """A rejected row as it was typed, kept to hand back for fixing: it holds ID numbers and
    phones, so it rests encrypted like them."""
    return cipher.encrypt(json.dumps(values, ensure_ascii=False), ROW_FIELD)


def open_row(cipher: PiiCipher, sealed: str) -> list[str]:
    return json.loads(cipher.decrypt(sealed, ROW_FIELD)) if sealed else []


class Writer:
    """Prepares and applies the batches of one job. What it knows of the job's communities
    (their buildings and households, read once) lives as long as the job."""

    def __init__(self, database: Database, cipher: PiiCipher, job: ImportJob) -> None:
        self.database = database
        self.cipher = cipher
        self.job_id = job.id
        # Each resident a batch writes gets an "imported" entry in its history, by whoever
        # asked for the import, naming the file.
        self.actor = (job.created_by, job.created_by_name)
        self.filename = job.filename
        # Whether a building the roster names and the community lacks is created (without a
        # location: no grid cell reaches it) or the row refused, pointing at close names.
        self.create_buildings = bool(job.create_buildings)
        self.listed_created = len(job.created_buildings or [])
        self.suggestions: dict[tuple[str, str], list[str]] = {}
        # Buildings by (community, name as matched), households by (building id, door as
        # matched): whitespace inside is ignored (8号 楼 is 8号楼), and the stored name is the
        # existing building's (``building_names``) or, for a new one, as typed.
        self.buildings: dict[tuple[str, str], str] = {}
        self.building_names: dict[tuple[str, str], str] = {}
        self.households: dict[tuple[str, str], str] = {}
        # Id → name of the buildings, and id → building and door of the households, read
        # with them: a resident's history names their household without a query per row.
        self.building_by_id: dict[str, str] = {}
        self.household_names: dict[str, str] = {}
        self.loaded: set[str] = set()
        self._connection: AsyncConnection | None = None  # see ``holding_connection``
        self.dialect = database.engine.dialect

    # --- the two steps -------------------------------------------------------------------

    async def prepare(self, kind: str, batch: list[Parsed]) -> Plan:
        """Everything ``batch`` writes, read and worked out on a reading connection."""
        plan = Plan(batch)
        if not batch:
            return plan
        async with self.database.transaction(write=False) as session:
            if not self.database.is_sqlite:
                # The tables grow under this import: a plan cached when they were small (a
                # scan) must not serve the lookups once they are large.
                await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            good = [p for p in batch if not p.problems]
            await self._check_places(session, plan, [p for p in batch if p.problems and p.place])
            # Preparing may find more problems (a building nobody has): errors come after.
            if kind == "residents":
                await self._prepare_residents(session, plan, good)
            elif kind == "buildings":
                await self._prepare_buildings(session, plan, good)
            elif kind == "households":
                await self._prepare_households(session, plan, good)
            else:
                await self._prepare_units(session, plan, good)
        plan.bind(self.dialect)
        return plan

    @asynccontextmanager
    async def holding_connection(self) -> AsyncIterator[None]:
        """The job's batches are applied on one connection, held for the job. On SQLite its
        page cache, made large for the job, then stays warm from one batch to the next: a
        connection from the pool for each batch read the indexes in again, and a 100,000-row
        roster's last batches took twice its first's time."""
        async with self.database.write_engine.connect() as connection:
            if self.database.is_sqlite:
                cache = await connection.scalar(text("PRAGMA cache_size"))
                await connection.execute(text(f"PRAGMA cache_size = -{SQLITE_BATCH_CACHE_KIB}"))
                await connection.commit()
            self._connection = connection
            try:
                yield
            finally:
                self._connection = None
                if self.database.is_sqlite:
                    await connection.rollback()
                    await connection.execute(text(f"PRAGMA cache_size = {int(cache)}"))
                    await connection.commit()

    async def apply(self, plan: Plan, tally: Tally, renew=None) -> None:
        """Writes a prepared batch in one transaction. ``renew(session)``, when given, renews
        the job's lease in it; False (the job is no longer ours) writes nothing and raises
        ``LeaseLost``."""
        async with self.database.transaction(connection=self._connection) as session:
            if renew is not None and not await renew(session):
                raise LeaseLost()
            if plan.batch:
                await self._apply(session, plan, tally)

    async def write(self, kind: str, batch: list[Parsed], tally: Tally, renew=None) -> None:
        """Both steps for one batch, one after the other."""
        await self.apply(await self.prepare(kind, batch), tally, renew)

    async def _apply(self, session, plan: Plan, tally: Tally) -> None:
        for bound in plan.inserts:
            await insert_bound(session, bound)
        for statement, params in plan.updates:
            await session.execute(statement, params)
        if plan.residents:
            await self._insert_residents(session, plan)
        await insert_bound(session, plan.bound["tags"])
        for rid, community, tags in plan.retags:
            await session.execute(
                ResidentTag.__table__.delete().where(ResidentTag.resident_id == rid)
            )
            if tags:
                await session.execute(
                    insert(ResidentTag.__table__),
                    [
                        {"resident_id": rid, "tag": t, "community_code": community, "current": True}
                        for t in tags
                    ],
                )
        await insert_bound(session, plan.bound["history"])
        await counts.add(session, plan.deltas)
        if plan.created:
            room = MAX_CREATED_LISTED - self.listed_created
            if room > 0:
                await repository.add_created_buildings(session, self.job_id, plan.created[:room])
                self.listed_created += min(room, len(plan.created))
        await self._write_errors(session, [p for p in plan.batch if p.problems], tally)
        tally.total += len(plan.batch)
        tally.imported += plan.imported
        tally.unchanged += plan.unchanged
        await repository.update_import_job(
            session,
            self.job_id,
            total=tally.total,
            imported=tally.imported,
            unchanged=tally.unchanged,
            failed=tally.failed,
        )

    async def _insert_residents(self, session, plan: Plan) -> None:
        """The batch's new residents; if someone registered one of them meanwhile (the form,
        another replica's roster), row by row, refusing that person's row and whatever the
        plan would have written for them."""
        table = Resident.__table__
        try:
            async with session.begin_nested():
                await insert_bound(session, plan.bound["residents"])
            return
        except IntegrityError:
            pass
        refused = set()
        for row in plan.residents:
            try:
                async with session.begin_nested():
                    await bulk_insert_rows(session, table, RESIDENT_COLUMNS, [row])
            except IntegrityError:
                refused.add(row[0])
                plan.resident_rows[row[0]].fail("身份证号", "registered_elsewhere")
                plan.deltas[(row[1], "residence", row[6])] -= 1
        plan.imported -= len(refused)
        for tag in plan.tags:
            if tag[0] in refused:
                plan.deltas[(tag[2], "tag", tag[1])] -= 1
        plan.tags = [t for t in plan.tags if t[0] not in refused]
        plan.history = [h for h in plan.history if h[2] not in refused]
        plan.bind(self.dialect)

    async def _write_errors(self, session, bad: list[Parsed], tally: Tally) -> None:
        rows = []
        for parsed in bad:
            tally.failed += 1
            for problem in parsed.problems:
                if tally.kept_errors >= MAX_ERRORS_KEPT:
                    break
                tally.kept_errors += 1
                rows.append(
                    {
                        "job_id": self.job_id,
                        "row": problem.row,
                        "field": problem.field,
                        "message": problem.message[:255],
                        "values_enc": seal_row(self.cipher, [as_text(v) for v in parsed.values]),
                    }
                )
        if rows:
            await session.execute(insert(ImportError_.__table__), rows)

    # --- what exists: buildings and households --------------------------------------------

    async def _load_communities(self, session, communities: set[str]) -> None:
        """Buildings and households of each community, read once per import: rows of one
        community are usually many, and a lookup per batch costs more than this."""
        wanted = [c for c in communities if c not in self.loaded]
        if not wanted:
            return
        for bid, community, name in await session.execute(
            select(Building.id, Building.community_code, Building.name).where(
                Building.deleted_at.is_(None), Building.community_code.in_(wanted)
            )
        ):
            self.building_by_id[bid] = name
            if self.buildings.setdefault(building_key(community, name), bid) == bid:
                self.building_names[building_key(community, name)] = name
        for hid, building_id, door in await session.execute(
            select(Household.id, Household.building_id, Household.door_no).where(
                Household.community_code.in_(wanted)
            )
        ):
            self.households.setdefault(household_key(building_id, door), hid)
            self._name_household(hid, building_id, door)
        self.loaded.update(wanted)

    async def _building_ids(
        self, session, plan: Plan, keys: set[tuple[str, str]], create: bool
    ) -> None:
        await self._load_communities(session, {c for c, _ in keys})
        missing_by_key: dict[tuple[str, str], tuple[str, str]] = {}
        for k in sorted(keys):
            if building_key(*k) not in self.buildings:
                missing_by_key.setdefault(building_key(*k), k)
        if not (create and missing_by_key):
            return
        now = clock.now()
        rows = []
        for key, (community, name) in missing_by_key.items():
            bid = new_id()
            rows.append((bid, community, name, now, now))
            self.buildings[key] = bid
            self.building_names[key] = name
            self.building_by_id[bid] = name
            plan.created.append({"id": bid, "community_code": community, "name": name})
        plan.inserts.append(bind_insert(self.dialect, Building.__table__, BUILDING_COLUMNS, rows))
        self.suggestions.clear()

    def _name_household(self, household_id: str, building_id: str | None, door: str) -> None:
        building = self.building_by_id.get(building_id) if building_id else None
        self.household_names[household_id] = f"{building} {door}" if building else door

    def _household(self, household_id: str | None) -> str | None:
        """A household as a resident's history names it (``6号楼 2单元301 (id)``)."""
        return household_label(household_id, self.household_names)

    def _known_building(self, parsed: Parsed, community: str, name: str) -> bool:
        """Whether the building a row names exists (or was just created); if not, the row
        is refused naming what was typed and the community's closest building names."""
        if building_key(community, name) in self.buildings:
            return True
        near = self.suggestions.get((community, name))
        if near is None:
            near = self.suggestions[(community, name)] = closest_buildings(
                name, [n for (c, _), n in self.building_names.items() if c == community]
            )
        if near:
            parsed.fail("楼栋", "building_unknown_near", name=name, near="、".join(near))
        else:
            parsed.fail("楼栋", "building_unknown_named", name=name)
        return False

    async def _household_ids(
        self, session, plan: Plan, keys: set[tuple[str, str, str]], heads: dict
    ) -> None:
        """keys: (community, building_id, door_no); households are created on first sight,
        with the door number as first typed. ``heads``: the name of the row that says 户主,
        by household key — a household takes it when it has no head's name yet."""
        await self._load_communities(session, {k[0] for k in keys})
        missing: dict[tuple[str, str], tuple[str, str]] = {}
        for c, b, d in sorted(keys):
            if household_key(b, d) not in self.households:
                missing.setdefault(household_key(b, d), (c, d))
        known_heads = [
            {"b_id": self.households[key], "head": name}
            for key, name in heads.items()
            if key not in missing and key in self.households
        ]
        now = clock.now()
        if known_heads:
            # Only where no head is named yet: the household's own import or a worker decides.
            table = Household.__table__
            statement = (
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c.head_name.is_(None))
                .values(head_name=bindparam("head"), updated_at=now)
            )
            plan.updates.append((statement, known_heads))
        rows = []
        for (b, key_door), (c, d) in missing.items():
            hid = new_id()
            rows.append((hid, c, b, d, heads.get((b, key_door)), now, now))
            self.households[(b, key_door)] = hid
            self._name_household(hid, b, d)
            plan.deltas[counts.household_key(c)] += 1
        self._created_households(plan, rows)

    def _created_households(self, plan: Plan, rows: list[tuple]) -> None:
        """New households (``HOUSEHOLD_COLUMNS``) into the plan, each with a "created" entry
        in its history as one added through the form has, by whoever asked for the import
        and naming the file."""
        if not rows:
            return
        plan.inserts.append(bind_insert(self.dialect, Household.__table__, HOUSEHOLD_COLUMNS, rows))
        at = {f: HOUSEHOLD_COLUMNS.index(f) for f in HISTORY_FIELDS["household"]}
        plan.history += entry_rows(
            record_type="household",
            actor_id=self.actor[0],
            actor_name=self.actor[1],
            action="created",
            entries=[
                (row[0], row[1], None, {f: row[i] for f, i in at.items()} | {"file": self.filename})
                for row in rows
            ],
        )

    async def _check_places(self, session, plan: Plan, failed: list[Parsed]) -> None:
        """The buildings that rows refused at parsing name, checked as a written row's are,
        so that the row's errors name an unknown building beside its bad phone. Told to
        create buildings, the import would create it: no error then."""
        if self.create_buildings:
            return
        failed = [p for p in failed if not any(q.field in ("楼栋", "社区代码") for q in p.problems)]
        if not failed:
            return
        await self._building_ids(session, plan, {p.place for p in failed if p.place}, False)
        for p in failed:
            assert p.place is not None
            self._known_building(p, *p.place)

    def _insert_dicts(self, plan: Plan, table: Table, rows: list[dict]) -> None:
        """New rows given as dicts of the same columns, into the plan."""
        if rows:
            columns = tuple(rows[0])
            values = [tuple(r[c] for c in columns) for r in rows]
            plan.inserts.append(bind_insert(self.dialect, table, columns, values))

    # --- residents ------------------------------------------------------------------------

    async def _prepare_residents(self, session, plan: Plan, good: list[Parsed]) -> None:
        if not good:
            return
        await self._building_ids(
            session,
            plan,
            {(p.data.community_code, p.data.building) for p in good if p.data.building},
            self.create_buildings,
        )
        good = [
            p
            for p in good
            if not p.data.building
            or self._known_building(p, p.data.community_code, p.data.building)
        ]
        if not good:
            return
        buildings = self.buildings
        keys, heads = set(), {}
        for p in good:
            d = p.data
            if d.building and d.door_no:
                building_id = buildings[d.building_key]
                keys.add((d.community_code, building_id, d.door_no))
                if d.relation_to_head == "户主":
                    heads[(building_id, d.door_key)] = d.name
        await self._household_ids(session, plan, keys, heads)
        existing, existing_tags = await self._current_residents(
            session, [p.data.id_number_index for p in good]
        )

        now = clock.now()
        households = self.households
        deltas = plan.deltas
        updates = []
        changed: list[tuple] = []  # (id, community, before, after) of each resident written
        for i, p in enumerate(good):
            if i % YIELD_ROWS == YIELD_ROWS - 1:
                await asyncio.sleep(0)
            d = p.data
            community = d.community_code
            building_id = buildings.get(d.building_key) if d.building else None
            household_id = (
                households.get((building_id, d.door_key)) if building_id and d.door_no else None
            )
            sealed = d.sealed
            old = existing.get(d.id_number_index)
            if old is None:
                rid = new_id()
                plan.residents.append(
                    (
                        rid,
                        community,
                        household_id,
                        building_id,
                        d.name,
                        d.relation_to_head,
                        d.residence_type,
                        d.moved_in_on,
                        "current",
                        now,
                        now,
                        *sealed,
                    )
                )
                plan.resident_rows[rid] = p
                for tag in d.tags:
                    plan.tags.append((rid, tag, community, True))
                    deltas[(community, "tag", tag)] += 1
                deltas[(community, "residence", d.residence_type)] += 1
                after = {"community_code": community, "id_number": sealed[2]}
                changed.append(
                    (rid, community, None, after | self._imported(d, household_id, d.moved_in_on))
                )
                continue
            if old.community_code != community:
                p.fail("身份证号", "registered_elsewhere")
                continue
            old_tags = existing_tags.get(old.id, set())
            same = (
                old.name == d.name
                and old.phone_index == sealed[6]
                and old.residence_type == d.residence_type
                and old.relation_to_head == d.relation_to_head
                and (household_id is None or old.household_id == household_id)
                and (d.moved_in_on is None or old.moved_in_on == d.moved_in_on)
                and old_tags == set(d.tags)
            )
            if same:
                plan.unchanged += 1
                continue
            values = {
                "b_id": old.id,
                "name": d.name,
                "residence_type": d.residence_type,
                "relation_to_head": d.relation_to_head,
                "household_id": household_id or old.household_id,
                "building_id": building_id,
                "moved_in_on": d.moved_in_on or old.moved_in_on,
                "updated_at": now,
                **dict(zip(PHONE_COLUMNS, sealed[5:], strict=True)),
            }
            updates.append(values)
            before = {
                "name": old.name,
                "phone": old.phone_masked,
                "residence_type": old.residence_type,
                "relation_to_head": old.relation_to_head,
                "household_id": old.household_id,
                "household": self._household(old.household_id),
                "moved_in_on": old.moved_in_on,
                "tags": sorted(old_tags),
            }
            changed.append(
                (
                    old.id,
                    community,
                    before,
                    self._imported(d, values["household_id"], values["moved_in_on"]),
                )
            )
            if old_tags != set(d.tags):
                plan.retags.append((old.id, community, d.tags))
            deltas.update(counts.resident_keys(community, d.residence_type, d.tags))
            deltas.subtract(counts.resident_keys(old.community_code, old.residence_type, old_tags))
            plan.imported += 1
        plan.imported += len(plan.residents)
        if updates:
            columns = [k for k in updates[0] if k != "b_id"]
            table = Resident.__table__
            statement = (
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values({c: bindparam(c) for c in columns})
            )
            plan.updates.append((statement, updates))
        for start in range(0, len(changed), 4 * YIELD_ROWS):
            await asyncio.sleep(0)
            plan.history += entry_rows(
                record_type="resident",
                actor_id=self.actor[0],
                actor_name=self.actor[1],
                action="imported",
                entries=changed[start : start + 4 * YIELD_ROWS],
            )

    def _imported(self, d: RosterResident, household_id: str | None, moved_in_on) -> dict:
        """A roster row's resident as a history keeps it: personal data by its masks only,
        and the file it came from."""
        return {
            "name": d.name,
            "phone": d.sealed[7],
            "residence_type": d.residence_type,
            "relation_to_head": d.relation_to_head,
            "household_id": household_id,
            "household": self._household(household_id),
            "moved_in_on": moved_in_on,
            "tags": d.tags,  # sorted by the parser
            "file": self.filename,
        }

    async def _current_residents(self, session, indexes: list[str]) -> tuple[dict, dict]:
        """The current residents with these ID numbers (by blind index), and their tags."""
        # By the blind index alone, so the planner takes that index even before the table has
        # statistics; moved-out rows are dropped here.
        found = await session.execute(
            select(
                Resident.id,
                Resident.id_number_index,
                Resident.community_code,
                Resident.name,
                Resident.phone_index,
                Resident.residence_type,
                Resident.relation_to_head,
                Resident.household_id,
                Resident.moved_in_on,
                Resident.phone_masked,
                Resident.status,
            ).where(one_of(session, Resident.id_number_index, indexes))
        )
        existing = {r.id_number_index: r for r in found if r.status == "current"}
        tags: dict[str, set[str]] = {}
        if existing:
            for rid, tag in await session.execute(
                select(ResidentTag.resident_id, ResidentTag.tag).where(
                    ResidentTag.resident_id.in_([r.id for r in existing.values()])
                )
            ):
                tags.setdefault(rid, set()).add(tag)
        return existing, tags

    # --- buildings, households and units: one read for the batch, then one bulk insert and
    # one executemany update, as for residents (a household roster runs to thousands of rows)

    async def _prepare_buildings(self, session, plan: Plan, good: list[Parsed]) -> None:
        keys = {(p.data["community_code"], p.data["name"]) for p in good}
        await self._building_ids(session, plan, keys, False)
        known = [
            self.buildings[building_key(*k)] for k in keys if building_key(*k) in self.buildings
        ]
        current = {
            b.id: b
            for b in await session.execute(
                select(
                    Building.id, Building.address, Building.floors, Building.lat, Building.lng
                ).where(Building.id.in_(known))
            )
        }
        now = clock.now()
        new_rows: dict[tuple[str, str], dict] = {}
        updates: dict[str, dict] = {}
        for p in good:
            d = p.data
            key = building_key(d["community_code"], d["name"])
            fields = {k: d[k] for k in ("address", "floors", "lat", "lng") if d[k] is not None}
            if key in new_rows:  # named twice in this batch: the later row wins
                new_rows[key].update(fields)
            elif key in self.buildings:
                bid = self.buildings[key]
                before = updates.get(bid) or current[bid]._asdict()
                if all(before[k] == v for k, v in fields.items()):
                    plan.unchanged += 1
                    continue
                updates[bid] = {**before, **fields}
            else:
                new_rows[key] = {
                    "id": new_id(),
                    "community_code": d["community_code"],
                    "name": d["name"],
                    "address": None,
                    "floors": None,
                    "lat": None,
                    "lng": None,
                    "created_at": now,
                    "updated_at": now,
                    **fields,
                }
            plan.imported += 1
        self._insert_dicts(plan, Building.__table__, list(new_rows.values()))
        for key, row in new_rows.items():
            self.buildings[key] = row["id"]
            self.building_names[key] = row["name"]
            self.building_by_id[row["id"]] = row["name"]
        _update_by_id(plan, Building.__table__, updates.values(), now)

    async def _prepare_households(self, session, plan: Plan, good: list[Parsed]) -> None:
        await self._building_ids(
            session,
            plan,
            {(p.data["community_code"], p.data["building"]) for p in good},
            self.create_buildings,
        )
        known = []
        for p in good:
            building_id = self.buildings.get(
                building_key(p.data["community_code"], p.data["building"])
            )
            if building_id is None:
                self._known_building(p, p.data["community_code"], p.data["building"])
            elif household_key(building_id, p.data["door_no"]) in self.households:
                known.append(self.households[household_key(building_id, p.data["door_no"])])
        heads = dict(
            (
                await session.execute(
                    select(Household.id, Household.head_name).where(Household.id.in_(known))
                )
            ).all()
        )
        now = clock.now()
        new_rows: dict[tuple[str, str], list] = {}
        updates: dict[str, dict] = {}
        head_at = HOUSEHOLD_COLUMNS.index("head_name")
        for p in good:
            if p.problems:
                continue
            d = p.data
            building_id = self.buildings[building_key(d["community_code"], d["building"])]
            key = household_key(building_id, d["door_no"])
            if key in new_rows:
                new_rows[key][head_at] = d["head_name"] or new_rows[key][head_at]
            elif key in self.households:
                hid = self.households[key]
                head = updates.get(hid, {}).get("head_name", heads.get(hid))
                if d["head_name"] in (None, head):
                    plan.unchanged += 1
                    continue
                updates[hid] = {"id": hid, "head_name": d["head_name"]}
            else:
                new_rows[key] = [
                    new_id(),
                    d["community_code"],
                    building_id,
                    d["door_no"],
                    d["head_name"],
                    now,
                    now,
                ]
                plan.deltas[counts.household_key(d["community_code"])] += 1
            plan.imported += 1
        self._created_households(plan, [tuple(row) for row in new_rows.values()])
        for key, row in new_rows.items():
            self.households[key] = row[0]
            self._name_household(row[0], row[2], row[3])
        _update_by_id(plan, Household.__table__, updates.values(), now)

    async def _prepare_units(self, session, plan: Plan, good: list[Parsed]) -> None:
        columns = [c for c in Unit.__table__.c if c.name not in ("created_at", "updated_at")]
        existing = {
            u.uscc: u._asdict()
            for u in await session.execute(
                select(*columns).where(Unit.uscc.in_([p.data["uscc"] for p in good]))
            )
        }
        now = clock.now()
        new_rows: dict[str, dict] = {}
        updates: dict[str, dict] = {}
        for p in good:
            d = dict(p.data)
            phone = d.pop("contact_phone")
            masked = mask_phone(phone)
            if d["uscc"] in new_rows:
                target = new_rows[d["uscc"]]
            elif d["uscc"] in existing:
                target = updates.get(existing[d["uscc"]]["id"], existing[d["uscc"]])
                if target["community_code"] != d["community_code"]:
                    p.fail("统一社会信用代码", "unit_exists")
                    continue
                if all(target[k] == v for k, v in d.items()) and (
                    not phone or target["contact_phone_masked"] == masked
                ):
                    plan.unchanged += 1
                    continue
                target = updates.setdefault(target["id"], dict(target))
            else:
                target = new_rows[d["uscc"]] = {
                    "id": new_id(),
                    "contact_phone_enc": None,
                    "contact_phone_masked": None,
                    "created_at": now,
                    "updated_at": now,
                }
            target.update(d)
            if phone:
                target["contact_phone_enc"] = self.cipher.encrypt(phone, "phone")
                target["contact_phone_masked"] = masked
            plan.imported += 1
        self._insert_dicts(plan, Unit.__table__, list(new_rows.values()))
        _update_by_id(plan, Unit.__table__, updates.values(), now)


def building_key(community: str, name: str) -> tuple[str, str]:
    return community, spaceless(name)


def household_key(building_id: str, door_no: str) -> tuple[str, str]:
    return building_id, spaceless(door_no)


def _comparable(name: str) -> str:
    """A building name as compared for suggestions: full-width letters and digits as
    half-width (３号楼 is 3号楼), case and spaces ignored."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def closest_buildings(name: str, names: list[str], most: int = 3) -> list[str]:
    """The community's building names closest to a name that matches none, closest first:
    3号搂 → 3号楼, A坐 → A座; none when nothing is alike."""
    by_form: dict[str, str] = {}
    for candidate in sorted(names):
        by_form.setdefault(_comparable(candidate), candidate)
    near = difflib.get_close_matches(_comparable(name), list(by_form), n=most, cutoff=0.5)
    return [by_form[form] for form in near]


def _update_by_id(plan: Plan, table: Table, rows, now) -> None:
    """Rows (dicts with ``id`` and the columns to set) as one executemany, into the plan."""
    rows = [{**{k: v for k, v in r.items() if k != "id"}, "b_id": r["id"]} for r in rows]
    if not rows:
        return
    columns = [k for k in rows[0] if k != "b_id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({**{c: bindparam(c) for c in columns}, "updated_at": now})
    )
    plan.updates.append((statement, rows))
