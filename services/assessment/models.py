"""The assessment service's tables: co-building agreements (versioned) with their pledges and
fulfilment records, coordination meetings, indicator definitions (versioned by period),
published score snapshots, and model-community applications with their history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
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
outbox = outbox_table(Base.metadata)
# Who changed which record, when, and how (services.common.history).
change_history = history_table(Base.metadata)


class Agreement(Base):
    """A co-building agreement 共驻共建协议 between a resident unit and a community. An
    amendment is a new version with the same ``root_id``; the old one stays, superseded."""

    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    root_id: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    unit_id: Mapped[str] = mapped_column(String(36), index=True)
    unit_name: Mapped[str] = mapped_column(String(200))
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    title: Mapped[str] = mapped_column(String(200))
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # draft active terminated superseded
    unit_signed_by: Mapped[str | None] = mapped_column(String(64))
    # Who signed, by the name their token carried (histories show names, not account ids).
    unit_signed_by_name: Mapped[str | None] = mapped_column(String(64))
    unit_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    community_signed_by: Mapped[str | None] = mapped_column(String(64))
    community_signed_by_name: Mapped[str | None] = mapped_column(String(64))
    community_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    terminated_reason: Mapped[str | None] = mapped_column(String(255))
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Pledge(Base):
    """A measurable promise in one of the six joint areas, per period."""

    __tablename__ = "pledges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    category: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(500))
    target_quantity: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    target_unit: Mapped[str] = mapped_column(
        String(24)
    )  # times people hours yuan m2 opening_hours_per_week
    per: Mapped[str] = mapped_column(String(8))  # quarter half year
    # a facility opening: the unit's facility, shown to residents while the agreement holds
    facility_name: Mapped[str | None] = mapped_column(String(100))
    facility_capacity: Mapped[int | None] = mapped_column(Integer)
    facility_hours: Mapped[str | None] = mapped_column(String(200))
    facility_address: Mapped[str | None] = mapped_column(String(255))
    facility_lat: Mapped[float | None] = mapped_column(Float)  # WGS-84
    facility_lng: Mapped[float | None] = mapped_column(Float)

    # "Facilities around me": the box a distance search starts from.
    __table_args__ = (Index("ix_pledges_facility_place", "facility_lat", "facility_lng"),)


class FulfilmentRecord(Base):
    """What a unit did against a pledge 活动实绩; counts only once the community confirms."""

    __tablename__ = "fulfilment_records"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    pledge_id: Mapped[str] = mapped_column(ForeignKey("pledges.id"), index=True)
    agreement_id: Mapped[str] = mapped_column(String(36), index=True)
    unit_id: Mapped[str] = mapped_column(String(36))
    community_code: Mapped[str] = mapped_column(String(12))
    day: Mapped[date] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    participants: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="submitted")  # confirmed disputed
    review_note: Mapped[str | None] = mapped_column(String(500))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    # The reviewer's display name when they reviewed it (the history names them by it).
    reviewed_by_name: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    __table_args__ = (Index("ix_records_status_community_day", "status", "community_code", "day"),)


class Meeting(Base):
    """A co-building coordination-group meeting (at least one a quarter, seed 001)."""

    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    day: Mapped[date] = mapped_column(Date)
    attending_units: Mapped[list[str]] = mapped_column(JSON, default=list)
    minutes: Mapped[str] = mapped_column(Text)
    decisions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Indicator(Base):
    """One version of an indicator: valid from a period on (and until the next version), so
    changing a threshold for 2027 leaves 2026's results as they were."""

    __tablename__ = "indicators"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(48), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # ratio threshold count
    source: Mapped[str] = mapped_column(String(24))
    numerator: Mapped[str | None] = mapped_column(String(48))
    denominator: Mapped[str | None] = mapped_column(String(48))
    factor: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=1)
    comparator: Mapped[str] = mapped_column(String(4))  # >= > <= <
    threshold: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    per_quarter: Mapped[bool] = mapped_column(default=False)  # count thresholds scale with quarters
    weight: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    unit: Mapped[str | None] = mapped_column(String(24))
    seed: Mapped[str | None] = mapped_column(String(100))  # where the default comes from
    valid_from: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64), default="seed")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class ScoreSnapshot(Base):
    """Published scores: later data changes do not move them; republishing is explicit."""

    __tablename__ = "score_snapshots"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    area: Mapped[str] = mapped_column(String(12))
    period: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSON)
    published_by: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    __table_args__ = (
        Index("ix_snapshots_area_period_version", "area", "period", "version", unique=True),
    )


class Application(Base):
    """A model-community application 示范社区申报: community submits, street recommends,
    district approves."""

    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # submitted recommended approved rejected
    statement: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[str]] = mapped_column(JSON, default=list)
    score: Mapped[dict] = mapped_column(JSON)  # the community's row of the scores at submission
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    # One application under way per community and year, however many are sent at once.
    __table_args__ = (
        Index(
            "uq_applications_open",
            "community_code",
            "year",
            unique=True,
            sqlite_where=text("status IN ('submitted', 'recommended')"),
            postgresql_where=text("status IN ('submitted', 'recommended')"),
        ),
    )


class ApplicationEvent(Base):
    __tablename__ = "application_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
