"""Writing one batch of validated rows in one transaction: a read of what exists, then bulk
inserts and executemany updates (COPY on PostgreSQL), the population counts moved by the
batch, the bad rows kept, and the job's progress."""

from __future__ import annotations

import difflib
import json
import unicodedata
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from services.common.clock import clock
from services.common.database import Database, bulk_insert, one_of
from services.common.history import record_many
from services.common.ids import new_id
from services.common.pii import PiiCipher, mask_phone
from services.registry import counts, repository
from services.registry.imports.rows import Parsed, as_text
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


# The page cache of the connection that writes a batch on SQLite, in KiB (its default is
# 2 MiB): a batch dirties pages all over the blind indexes, and a cache smaller than those
# spills them to the WAL before the commit and reads them back (100,000 residents: 24 s of
# CPU at the default, 20 s with 64 MiB, at +68 MB of peak memory; measured on a loaded
# machine, so roughly). Given back after each batch.
SQLITE_BATCH_CACHE_KIB = 16 * 1024


class LeaseLost(Exception):
    """The job's lease ran out and another replica took it up: this run stops."""


@dataclass
class Tally:
    total: int = 0
    imported: int = 0
    unchanged: int = 0
    failed: int = 0
    kept_errors: int = 0


ROW_FIELD = "import_row"


def seal_row(cipher: PiiCipher, values: list[str]) -> str:
    """A rejected row as it was typed, kept to hand back for fixing: it holds ID numbers and
    phones, so it rests encrypted like them."""
    return cipher.encrypt(json.dumps(values, ensure_ascii=False), ROW_FIELD)


def open_row(cipher: PiiCipher, sealed: str) -> list[str]:
    return json.loads(cipher.decrypt(sealed, ROW_FIELD)) if sealed else []


class Writer:
    """Writes one batch of parsed rows in one transaction."""

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
        self.created: list[dict] = []  # buildings created by the current batch
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
        self.deltas: Counter = Counter()  # population counts changed by the current batch

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

    async def _building_ids(self, session, keys: set[tuple[str, str]], create: bool) -> None:
        await self._load_communities(session, {c for c, _ in keys})
        missing_by_key: dict[tuple[str, str], tuple[str, str]] = {}
        for k in sorted(keys):
            if building_key(*k) not in self.buildings:
                missing_by_key.setdefault(building_key(*k), k)
        missing = list(missing_by_key.values())
        if create and missing:
            now = clock.now()
            new_rows = [
                {
                    "id": new_id(),
                    "community_code": c,
                    "name": n,
                    "created_at": now,
                    "updated_at": now,
                }
                for c, n in missing
            ]
            await bulk_insert(session, Building.__table__, new_rows)
            for r in new_rows:
                key = building_key(r["community_code"], r["name"])
                self.buildings[key] = r["id"]
                self.building_names[key] = r["name"]
                self.building_by_id[r["id"]] = r["name"]
                self.created.append(
                    {"id": r["id"], "community_code": r["community_code"], "name": r["name"]}
                )
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
        self, session, keys: set[tuple[str, str, str]], heads: dict | None = None
    ) -> None:
        """keys: (community, building_id, door_no); households are created on first sight,
        with the door number as first typed. ``heads``: the name of the row that says 户主,
        by household key — a household takes it when it has no head's name yet."""
        heads = heads or {}
        await self._load_communities(session, {k[0] for k in keys})
        missing: dict[tuple[str, str], tuple[str, str]] = {}
        for c, b, d in sorted(keys):
            if household_key(b, d) not in self.households:
                missing.setdefault(household_key(b, d), (c, d))
        now = clock.now()
        new_rows = [
            {
                "id": new_id(),
                "community_code": c,
                "building_id": b,
                "door_no": d,
                "head_name": heads.get((b, key_door)),
                "created_at": now,
                "updated_at": now,
            }
            for (b, key_door), (c, d) in missing.items()
        ]
        known_heads = [
            {"b_id": self.households[key], "head": name}
            for key, name in heads.items()
            if key not in missing and key in self.households
        ]
        if known_heads:
            # Only where no head is named yet: the household's own import or a worker decides.
            await session.execute(
                update(Household.__table__)
                .where(
                    Household.__table__.c.id == bindparam("b_id"),
                    Household.__table__.c.head_name.is_(None),
                )
                .values(head_name=bindparam("head"), updated_at=now),
                known_heads,
            )
        if new_rows:
            await bulk_insert(session, Household.__table__, new_rows)
            await self._record_created_households(session, new_rows)
            for r in new_rows:
                self.households[household_key(r["building_id"], r["door_no"])] = r["id"]
                self._name_household(r["id"], r["building_id"], r["door_no"])
                self.deltas[counts.household_key(r["community_code"])] += 1

    async def _record_created_households(self, session, rows: list[dict]) -> None:
        """A "created" entry for each household the roster brought into being, as one added
        through the form has, by whoever asked for the import and naming the file: one bulk
        insert for the batch."""
        if not rows:
            return
        await record_many(
            session,
            change_history,
            record_type="household",
            actor_id=self.actor[0],
            actor_name=self.actor[1],
            action="created",
            entries=[
                (
                    r["id"],
                    r["community_code"],
                    None,
                    {**{f: r[f] for f in HISTORY_FIELDS["household"]}, "file": self.filename},
                )
                for r in rows
            ],
        )

    async def write(self, kind: str, batch: list[Parsed], tally: Tally, renew=None) -> None:
        """``renew(session)``, when given, renews the job's lease in the batch's transaction;
        False (the job is no longer ours) writes nothing and raises ``LeaseLost``."""
        async with self.database.transaction() as session:
            if renew is not None and not await renew(session):
                raise LeaseLost()
            if not batch:
                return
            if self.database.is_sqlite:
                cache = (await session.execute(text("PRAGMA cache_size"))).scalar_one()
                await session.execute(text(f"PRAGMA cache_size = -{SQLITE_BATCH_CACHE_KIB}"))
                try:
                    await self._write(session, kind, batch, tally)
                finally:
                    await session.execute(text(f"PRAGMA cache_size = {int(cache)}"))
            else:
                # The tables grow under this import: a plan cached when they were small
                # (a scan) must not serve the lookups once they are large.
                await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
                await self._write(session, kind, batch, tally)

    async def _write(self, session, kind: str, batch: list[Parsed], tally: Tally) -> None:
        good = [p for p in batch if not p.problems]
        await self._check_places(session, [p for p in batch if p.problems and p.place])
        # Writing may find more problems (a person registered elsewhere): errors come after.
        if kind == "residents":
            await self._write_residents(session, good, tally)
        elif kind == "buildings":
            await self._write_buildings(session, good, tally)
        elif kind == "households":
            await self._write_households(session, good, tally)
        else:
            await self._write_units(session, good, tally)
        await counts.add(session, self.deltas)
        self.deltas = Counter()
        if self.created:
            room = MAX_CREATED_LISTED - self.listed_created
            if room > 0:
                await repository.add_created_buildings(session, self.job_id, self.created[:room])
                self.listed_created += min(room, len(self.created))
            self.created = []
        await self._write_errors(session, [p for p in batch if p.problems], tally)
        tally.total += len(batch)
        await repository.update_import_job(
            session,
            self.job_id,
            total=tally.total,
            imported=tally.imported,
            unchanged=tally.unchanged,
            failed=tally.failed,
        )

    async def _check_places(self, session, failed: list[Parsed]) -> None:
        """The buildings that rows refused at parsing name, checked as a written row's are,
        so that the row's errors name an unknown building beside its bad phone. Told to
        create buildings, the import would create it: no error then."""
        if self.create_buildings:
            return
        failed = [p for p in failed if not any(q.field in ("楼栋", "社区代码") for q in p.problems)]
        if not failed:
            return
        await self._building_ids(session, {p.place for p in failed if p.place}, False)
        for p in failed:
            assert p.place is not None
            self._known_building(p, *p.place)

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

    async def _write_residents(self, session, good: list[Parsed], tally: Tally) -> None:
        if not good:
            return
        await self._building_ids(
            session,
            {(p.data["community_code"], p.data["building"]) for p in good if p.data["building"]},
            self.create_buildings,
        )
        good = [
            p
            for p in good
            if not p.data["building"]
            or self._known_building(p, p.data["community_code"], p.data["building"])
        ]
        if not good:
            return
        await self._household_ids(
            session,
            {
                (
                    p.data["community_code"],
                    self.buildings[building_key(p.data["community_code"], p.data["building"])],
                    p.data["door_no"],
                )
                for p in good
                if p.data["building"] and p.data["door_no"]
            },
            {
                household_key(
                    self.buildings[building_key(p.data["community_code"], p.data["building"])],
                    p.data["door_no"],
                ): p.data["name"]
                for p in good
                if p.data["building"] and p.data["door_no"] and p.data["relation_to_head"] == "户主"
            },
        )
        indexes = [p.data["id_number_index"] for p in good]
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
        existing_tags: dict[str, set[str]] = {}
        if existing:
            for rid, tag in await session.execute(
                select(ResidentTag.resident_id, ResidentTag.tag).where(
                    ResidentTag.resident_id.in_([r.id for r in existing.values()])
                )
            ):
                existing_tags.setdefault(rid, set()).add(tag)

        now = clock.now()
        inserts, tag_rows, updates, retag = [], [], [], []
        changed: list[tuple] = []  # (id, community, before, after) of updated residents
        for p in good:
            d = p.data
            building_id = (
                self.buildings.get(building_key(d["community_code"], d["building"]))
                if d["building"]
                else None
            )
            household_id = (
                self.households.get(household_key(building_id, d["door_no"]))
                if building_id and d["door_no"]
                else None
            )
            phone_index = d["sealed_phone"]["phone_index"]
            old = existing.get(d["id_number_index"])
            if old is not None:
                if old.community_code != d["community_code"]:
                    p.fail("身份证号", "registered_elsewhere")
                    continue
                same = (
                    old.name == d["name"]
                    and old.phone_index == phone_index
                    and old.residence_type == d["residence_type"]
                    and old.relation_to_head == d["relation_to_head"]
                    and (household_id is None or old.household_id == household_id)
                    and (d["moved_in_on"] is None or old.moved_in_on == d["moved_in_on"])
                    and existing_tags.get(old.id, set()) == set(d["tags"])
                )
                if same:
                    tally.unchanged += 1
                    continue
                values = {
                    "b_id": old.id,
                    "name": d["name"],
                    "residence_type": d["residence_type"],
                    "relation_to_head": d["relation_to_head"],
                    "household_id": household_id or old.household_id,
                    "building_id": building_id,
                    "moved_in_on": d["moved_in_on"] or old.moved_in_on,
                    "updated_at": now,
                    **d["sealed_phone"],
                }
                updates.append(values)
                changed.append(
                    (
                        old.id,
                        d["community_code"],
                        {
                            "name": old.name,
                            "phone": old.phone_masked,
                            "residence_type": old.residence_type,
                            "relation_to_head": old.relation_to_head,
                            "household_id": old.household_id,
                            "household": self._household(old.household_id),
                            "moved_in_on": old.moved_in_on,
                            "tags": sorted(existing_tags.get(old.id, ())),
                        },
                        _imported(
                            d,
                            values["household_id"],
                            self._household(values["household_id"]),
                            values["moved_in_on"],
                        ),
                    )
                )
                if existing_tags.get(old.id, set()) != set(d["tags"]):
                    retag.append((old.id, d["community_code"], d["tags"]))
                self.deltas.update(
                    counts.resident_keys(d["community_code"], d["residence_type"], d["tags"])
                )
                self.deltas.subtract(
                    counts.resident_keys(
                        old.community_code, old.residence_type, existing_tags.get(old.id, ())
                    )
                )
                tally.imported += 1
                continue
            rid = new_id()
            inserts.append(
                {
                    "id": rid,
                    "community_code": d["community_code"],
                    "household_id": household_id,
                    "building_id": building_id,
                    "name": d["name"],
                    "relation_to_head": d["relation_to_head"],
                    "residence_type": d["residence_type"],
                    "moved_in_on": d["moved_in_on"],
                    "status": "current",
                    "created_at": now,
                    "updated_at": now,
                    **d["sealed_id"],
                    **d["sealed_phone"],
                }
            )
            tag_rows.extend(
                {
                    "resident_id": rid,
                    "tag": t,
                    "community_code": d["community_code"],
                    "current": True,
                }
                for t in d["tags"]
            )
        if inserts:
            try:
                async with session.begin_nested():
                    await bulk_insert(session, Resident.__table__, inserts)
            except IntegrityError:
                # Someone registered one of these people meanwhile: go row by row.
                inserts, tag_rows = await self._insert_one_by_one(session, good, inserts, tag_rows)
            tally.imported += len(inserts)
            by_id = {p.data["id_number_index"]: p.data for p in good}
            for row in inserts:
                d = by_id[row["id_number_index"]]
                changed.append(
                    (
                        row["id"],
                        row["community_code"],
                        None,
                        {
                            "community_code": row["community_code"],
                            "id_number": row["id_number_masked"],
                            **_imported(
                                d,
                                row["household_id"],
                                self._household(row["household_id"]),
                                row["moved_in_on"],
                            ),
                        },
                    )
                )
            for row in inserts:
                self.deltas[(row["community_code"], "residence", row["residence_type"])] += 1
            for tag in tag_rows:
                self.deltas[(tag["community_code"], "tag", tag["tag"])] += 1
        await bulk_insert(session, ResidentTag.__table__, tag_rows)
        if updates:
            columns = [k for k in updates[0] if k != "b_id"]
            await session.execute(
                update(Resident.__table__)
                .where(Resident.__table__.c.id == bindparam("b_id"))
                .values({c: bindparam(c) for c in columns}),
                updates,
            )
        if changed:
            await record_many(
                session,
                change_history,
                record_type="resident",
                actor_id=self.actor[0],
                actor_name=self.actor[1],
                action="imported",
                entries=[
                    (rid, community, before, {**after, "file": self.filename})
                    for rid, community, before, after in changed
                ],
            )
        for rid, community, tags in retag:
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

    async def _insert_one_by_one(self, session, good, inserts, tag_rows):
        by_index = {p.data["id_number_index"]: p for p in good}
        kept, kept_ids = [], set()
        for row in inserts:
            try:
                async with session.begin_nested():
                    await session.execute(insert(Resident.__table__), [row])
                kept.append(row)
                kept_ids.add(row["id"])
            except IntegrityError:
                by_index[row["id_number_index"]].fail("身份证号", "registered_elsewhere")
        return kept, [t for t in tag_rows if t["resident_id"] in kept_ids]

    # Buildings, households and units: one read for the batch, then one bulk insert and one
    # executemany update, as for residents (a household roster runs to thousands of rows).

    async def _write_buildings(self, session, good: list[Parsed], tally: Tally) -> None:
        keys = {(p.data["community_code"], p.data["name"]) for p in good}
        await self._building_ids(session, keys, False)
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
                    tally.unchanged += 1
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
            tally.imported += 1
        await bulk_insert(session, Building.__table__, list(new_rows.values()))
        for key, row in new_rows.items():
            self.buildings[key] = row["id"]
            self.building_names[key] = row["name"]
            self.building_by_id[row["id"]] = row["name"]
        await _update_by_id(session, Building.__table__, updates.values(), now)

    async def _write_households(self, session, good: list[Parsed], tally: Tally) -> None:
        await self._building_ids(
            session,
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
        new_rows: dict[tuple[str, str], dict] = {}
        updates: dict[str, dict] = {}
        for p in good:
            if p.problems:
                continue
            d = p.data
            building_id = self.buildings[building_key(d["community_code"], d["building"])]
            key = household_key(building_id, d["door_no"])
            if key in new_rows:
                new_rows[key]["head_name"] = d["head_name"] or new_rows[key]["head_name"]
            elif key in self.households:
                hid = self.households[key]
                head = updates.get(hid, {}).get("head_name", heads.get(hid))
                if d["head_name"] in (None, head):
                    tally.unchanged += 1
                    continue
                updates[hid] = {"id": hid, "head_name": d["head_name"]}
            else:
                new_rows[key] = {
                    "id": new_id(),
                    "community_code": d["community_code"],
                    "building_id": building_id,
                    "door_no": d["door_no"],
                    "head_name": d["head_name"],
                    "created_at": now,
                    "updated_at": now,
                }
                self.deltas[counts.household_key(d["community_code"])] += 1
            tally.imported += 1
        await bulk_insert(session, Household.__table__, list(new_rows.values()))
        await self._record_created_households(session, list(new_rows.values()))
        for key, row in new_rows.items():
            self.households[key] = row["id"]
            self._name_household(row["id"], row["building_id"], row["door_no"])
        await _update_by_id(session, Household.__table__, updates.values(), now)

    async def _write_units(self, session, good: list[Parsed], tally: Tally) -> None:
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
                    tally.unchanged += 1
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
            tally.imported += 1
        await bulk_insert(session, Unit.__table__, list(new_rows.values()))
        await _update_by_id(session, Unit.__table__, updates.values(), now)


def _spaceless(text: str) -> str:
    """A name as matched: whitespace inside dropped, full-width spaces too (8号 楼 is
    8号楼), since a stray space is how a roster typed by hand most often differs."""
    return "".join(text.split())


def building_key(community: str, name: str) -> tuple[str, str]:
    return community, _spaceless(name)


def household_key(building_id: str, door_no: str) -> tuple[str, str]:
    return building_id, _spaceless(door_no)


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


def _imported(d: dict, household_id: str | None, household: str | None, moved_in_on) -> dict:
    """A roster row's resident as a history keeps it: personal data by its masks only."""
    return {
        "name": d["name"],
        "phone": d["sealed_phone"]["phone_masked"],
        "residence_type": d["residence_type"],
        "relation_to_head": d["relation_to_head"],
        "household_id": household_id,
        "household": household,
        "moved_in_on": moved_in_on,
        "tags": sorted(d["tags"]),
    }


async def _update_by_id(session, table, rows, now) -> None:
    """Rows (dicts with ``id`` and the columns to set) written in one executemany."""
    rows = [{**{k: v for k, v in r.items() if k != "id"}, "b_id": r["id"]} for r in rows]
    if not rows:
        return
    columns = [k for k in rows[0] if k != "b_id"]
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({**{c: bindparam(c) for c in columns}, "updated_at": now}),
        rows,
    )
