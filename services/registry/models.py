"""The registry's tables: areas with their profile, buildings, households, residents and
their tags, resident units with their facilities, the personal-data audit log and import
jobs. Rows are never hard-deleted where history matters (residents move out)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.clock import clock
from services.common.database import UTCDateTime, new_metadata
from services.common.events import outbox_table
from services.common.history import history_table
from services.common.idempotency import idempotency_table
from services.common.ids import new_id


class Base(DeclarativeBase):
    metadata = new_metadata()


idempotency_keys = idempotency_table(Base.metadata)
# Events other services rely on (a resident moved out), written with the change itself.
outbox = outbox_table(Base.metadata)
# Who changed which record, when, and how (services.common.history).
change_history = history_table(Base.metadata)


class Area(Base):
    """An administrative area keyed by its 12-digit statistical code (统计用区划代码)."""

    __tablename__ = "areas"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))  # province city district street community
    kind: Mapped[str] = mapped_column(String(16))  # derived from the code's segments
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    # The community profile the assessment reads; each figure optional.
    office_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    service_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    activity_venue_m2: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    activity_square_m2: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    full_time_staff: Mapped[int | None] = mapped_column(Integer)
    annual_funding_yuan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )


class Building(Base):
    __tablename__ = "buildings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    community_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(255))
    floors: Mapped[int | None] = mapped_column(Integer)
    lat: Mapped[float | None] = mapped_column(Float)  # WGS-84
    lng: Mapped[float | None] = mapped_column(Float)
    cell_code: Mapped[str | None] = mapped_column(String(32), index=True)  # set by grid
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )

    __table_args__ = (Index("ix_buildings_community_name", "community_code", "name"),)


class BuildingCellMove(Base):
    """A building leaving one grid cell for another (or for none). Phones that synced the old
    cell must hear that it is gone; phones of the new cell must get it whole, households and
    residents included, though none of those rows changed."""

    __tablename__ = "building_cell_moves"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    building_id: Mapped[str] = mapped_column(String(36), index=True)
    from_cell: Mapped[str | None] = mapped_column(String(32))
    to_cell: Mapped[str | None] = mapped_column(String(32))
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Household(Base):
    """No foreign keys here or on residents: on PostgreSQL each checked reference takes a row
    lock on the referenced area or building, which made bulk imports five times slower. The
    service guarantees the references instead — areas and buildings are never hard-deleted,
    and every write checks the community and building it names."""

    __tablename__ = "households"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    community_code: Mapped[str] = mapped_column(String(12))
    building_id: Mapped[str | None] = mapped_column(String(36), index=True)
    door_no: Mapped[str] = mapped_column(String(50))  # 门牌号, e.g. 2单元301
    head_name: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )

    __table_args__ = (
        Index("ix_households_community_code", "community_code"),
        Index("ix_households_building_door", "building_id", "door_no"),
    )


# Made by migrations, outside the ORM: the names' trigram search (5d1e8b3f0a6c: an FTS5
# table and its shadow tables on SQLite, a pg_trgm GIN index on PostgreSQL), and the one
# index on a resident's ID number, unique on (number, nothing for a current resident and
# the row's id for one moved out): anyone is found by it, and a person is current in one
# place only (c9e1f7a3b5d2; an expression the migrations' comparison cannot read back).
OUTSIDE_THE_MODELS = ("resident_names", "ix_residents_name_trgm", "uq_residents_id_number")


class Resident(Base):
    """Triggers on this table keep the birth-year counts of ``PopulationCount`` (migration
    9e4b1c7d2a05) and, on SQLite, the names' trigram table ``resident_names``, keyed by
    this table's rowid (5d1e8b3f0a6c); a SQLite migration that recreates the table must
    create them again, and rebuild ``resident_names``. On PostgreSQL a pg_trgm GIN index
    on ``name`` serves the same search."""

    __tablename__ = "residents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # References without foreign keys: see Household.
    community_code: Mapped[str] = mapped_column(String(12))
    household_id: Mapped[str | None] = mapped_column(String(36), index=True)
    building_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(50))
    # Personal data: ciphertext, a keyed blind index for exact lookup, the masked form.
    id_number_enc: Mapped[str] = mapped_column(String(128))
    id_number_index: Mapped[str] = mapped_column(String(64))
    id_number_masked: Mapped[str] = mapped_column(String(18))
    phone_enc: Mapped[str | None] = mapped_column(String(128))
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str | None] = mapped_column(String(16))
    gender: Mapped[str] = mapped_column(String(8))
    birth_date: Mapped[date] = mapped_column(Date)
    relation_to_head: Mapped[str | None] = mapped_column(String(20))
    residence_type: Mapped[str] = mapped_column(String(16))  # registered permanent floating
    moved_in_on: Mapped[date | None] = mapped_column(Date)
    moved_out_on: Mapped[date | None] = mapped_column(Date)
    move_out_reason: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="current")  # current moved_out
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )

    __table_args__ = (
        # Scoped lists: everything current under a code prefix.
        # Scoped lists page in (community, id) order straight off this index.
        Index("ix_residents_status_community_id", "status", "community_code", "id"),
        # Minors under a prefix: a short range of recent birth dates.
        Index(
            "ix_residents_current_birth",
            "birth_date",
            "community_code",
            sqlite_where=text("status = 'current'"),
            postgresql_where=text("status = 'current'"),
        ),
        Index("ix_residents_community_name", "community_code", "name"),
    )


class ResidentTag(Base):
    """A tag on a resident. ``community_code`` and ``current`` are copied from the resident
    so that tag statistics over a subtree read this table alone."""

    __tablename__ = "resident_tags"

    resident_id: Mapped[str] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12))
    current: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (Index("ix_resident_tags_stats", "current", "community_code", "tag"),)


class PopulationCount(Base):
    """Running counts per community — current residents by residence type, by tag and by
    birth year (``born``, ``YYYY``: the minors of any day), and households — kept in the
    same transaction as every write that changes them, so that the figures of a district of
    a million residents are a sum over a few thousand rows. The service keeps the first
    two and households (``counts.add``); triggers on ``residents`` keep the birth years, for
    every writer (migration 9e4b1c7d2a05). ``recount`` rebuilds them all from the base
    tables."""

    __tablename__ = "population_counts"

    community_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)  # residence tag households
    value: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class TagDefinition(Base):
    """The tags a deployment uses: the built-in ones and its own."""

    __tablename__ = "tag_definitions"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class Unit(Base):
    """A resident unit 驻区单位: an agency, enterprise or institution in the community."""

    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    community_code: Mapped[str] = mapped_column(ForeignKey("areas.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    category: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(255))
    contact_name: Mapped[str | None] = mapped_column(String(50))
    contact_phone_enc: Mapped[str | None] = mapped_column(String(128))
    contact_phone_masked: Mapped[str | None] = mapped_column(String(16))
    party_org_name: Mapped[str | None] = mapped_column(String(200))
    party_member_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )


class UnitFacility(Base):
    """A facility a unit can open to residents (co-building's 设施联管)."""

    __tablename__ = "unit_facilities"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    capacity: Mapped[int | None] = mapped_column(Integer)
    opening_hours: Mapped[str | None] = mapped_column(String(200))


class PiiAuditEntry(Base):
    """Every unmasked read of personal data: who, whom, when, why."""

    __tablename__ = "pii_audit_log"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    actor_id: Mapped[str] = mapped_column(String(36), index=True)
    actor_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(128))


class ImportJob(Base):
    __tablename__ = "import_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="queued")  # running done failed
    filename: Mapped[str] = mapped_column(String(255))
    file_path: Mapped[str] = mapped_column(String(512))
    created_by: Mapped[str] = mapped_column(String(36), index=True)
    # Who asked, by name: the residents' histories say who imported them.
    created_by_name: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The file's own header, kept for the error sheet after the file itself is deleted.
    header: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # A building the roster names that does not exist is a bad row, unless the import was
    # told to create buildings; those it created ({id, community_code, name}) are reported.
    create_buildings: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    created_buildings: Mapped[list[dict]] = mapped_column(JSON, default=list, server_default="[]")
    # A CSV's text encoding as found when it was uploaded (utf-8-sig or gb18030).
    encoding: Mapped[str | None] = mapped_column(String(16))
    # An xlsx's first sheet as its upload's checks found it: rows by its widest row, the
    # cells a reader that holds the sheet holds (None: read it as a stream).
    sheet_cells: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The replica running it, until when (renewed while it runs): one replica at a time.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImportError_(Base):
    """One bad row of an import: where, what is wrong, and the row as it was, so that the
    bad rows can be handed back as a spreadsheet to fix."""

    __tablename__ = "import_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(255))
    # The row as it was typed, encrypted (it holds ID numbers and phones): imports/writing.py
    values_enc: Mapped[str] = mapped_column(Text, default="", server_default="")

    __table_args__ = (Index("ix_import_errors_job_row", "job_id", "row"),)


# Relationships are declared after every class exists.
from sqlalchemy.orm import relationship  # noqa: E402

Resident.tag_rows = relationship(  # type: ignore[attr-defined]
    ResidentTag, lazy="selectin", cascade="all, delete-orphan", order_by=ResidentTag.tag
)
Unit.facilities = relationship(  # type: ignore[attr-defined]
    UnitFacility, lazy="selectin", cascade="all, delete-orphan", order_by=UnitFacility.name
)
