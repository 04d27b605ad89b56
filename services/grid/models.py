"""The grid service's tables: cells and their members, household visits and their finding
tags, case categories, cases with every step of their history, and the working calendar's
holidays."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.common.clock import clock
from services.common.database import UTCDateTime, new_metadata
from services.common.events import inbox_table, outbox_table
from services.common.history import history_table
from services.common.idempotency import idempotency_table
from services.common.ids import new_id


class Base(DeclarativeBase):
    metadata = new_metadata()


idempotency_keys = idempotency_table(Base.metadata)
outbox = outbox_table(Base.metadata)
# Who changed which record, when, and how (services.common.history).
change_history = history_table(Base.metadata)
inbox = inbox_table(Base.metadata)


class Cell(Base):
    """A grid cell 网格: its community's code plus a sequence number, and a boundary."""

    __tablename__ = "cells"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # comprehensive / dedicated
    dedicated_to: Mapped[str | None] = mapped_column(String(100))  # a school, a market ...
    household_target: Mapped[int | None] = mapped_column(Integer)
    responsible: Mapped[str | None] = mapped_column(String(100))
    boundary: Mapped[dict] = mapped_column(JSON)  # GeoJSON, WGS-84
    # The boundary's bounding box: overlap checks read only the cells near a new one.
    min_lat: Mapped[float | None] = mapped_column(Float)
    min_lng: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    max_lng: Mapped[float | None] = mapped_column(Float)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)


class CellMember(Base):
    __tablename__ = "cell_members"

    cell_code: Mapped[str] = mapped_column(ForeignKey("cells.code"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))  # worker / leader
    display_name: Mapped[str] = mapped_column(String(64), default="")
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class CellMemberRemoval(Base):
    """A worker taken off a cell: their phone's next sync drops the cell and all it held."""

    __tablename__ = "cell_member_removals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    cell_code: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(36))
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_cell_member_removals_user", "user_id", "removed_at"),)


class FindingTag(Base):
    """What a visit can find (configurable): elderly living alone checked, a dispute ..."""

    __tablename__ = "finding_tags"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Visit(Base):
    """A household visit 入户走访. Whether the phone was inside the cell is stored with the
    distance, never the raw position."""

    __tablename__ = "visits"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    cell_code: Mapped[str | None] = mapped_column(String(32))
    community_code: Mapped[str] = mapped_column(String(12))
    household_id: Mapped[str] = mapped_column(String(36), index=True)
    building_id: Mapped[str | None] = mapped_column(String(36))
    worker_id: Mapped[str] = mapped_column(String(36), index=True)
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime())
    findings: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    inside_cell: Mapped[bool | None] = mapped_column(Boolean)
    distance_m: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    __table_args__ = (Index("ix_visits_cell_time", "cell_code", "visited_at"),)


class CaseCategory(Base):
    """Class and subclass codes with a priority and a deadline for each step, in working
    hours (``deadline_unit`` ``hours``) or working days (``days``)."""

    __tablename__ = "case_categories"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)  # e.g. 01.03
    class_code: Mapped[str] = mapped_column(String(8))
    class_name: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(16), default="normal")  # normal / urgent
    deadline_unit: Mapped[str] = mapped_column(String(8), default="hours")
    accept_within: Mapped[float] = mapped_column(Float, default=2)
    dispatch_within: Mapped[float] = mapped_column(Float, default=1)
    handle_within: Mapped[float] = mapped_column(Float, default=16)
    verify_within: Mapped[float] = mapped_column(Float, default=4)
    close_within: Mapped[float] = mapped_column(Float, default=2)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


UNMEASURED = "handling_hours IS NULL AND handled_at IS NOT NULL AND dispatched_at IS NOT NULL"


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    category_code: Mapped[str] = mapped_column(ForeignKey("case_categories.code"))
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(255))
    lat: Mapped[float | None] = mapped_column(Float)  # WGS-84: where the incident is
    lng: Mapped[float | None] = mapped_column(Float)
    cell_code: Mapped[str | None] = mapped_column(String(32), index=True)
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    source: Mapped[str] = mapped_column(String(16))  # grid_worker resident hotline open311
    reporter_id: Mapped[str | None] = mapped_column(String(64), index=True)
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="reported")
    step: Mapped[str | None] = mapped_column(String(16))  # what the deadline is for
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handle_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatched_to: Mapped[str | None] = mapped_column(String(100))
    dispatched_unit_id: Mapped[str | None] = mapped_column(String(36))
    dispatched_unit_name: Mapped[str | None] = mapped_column(String(100))
    handler_id: Mapped[str | None] = mapped_column(String(64))
    # A grid worker of the case's cell it was dispatched to (what "my cases" lists).
    assignee_id: Mapped[str | None] = mapped_column(String(36), index=True)
    assignee_name: Mapped[str | None] = mapped_column(String(64))
    # The deadlines someone was already reminded of, nearing and passed: a reminder goes
    # once per deadline, and again when a new step sets a new one.
    due_soon_told_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_told_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    extension_hours: Mapped[float | None] = mapped_column(Float)  # a pending request
    extension_requested_by: Mapped[str | None] = mapped_column(String(64))
    rating: Mapped[int | None] = mapped_column(Integer)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Handling time 处置用时: working hours on the grid's calendar from dispatch to handling,
    # kept when the case is handled (what the KPIs sum up, in the database).
    handling_hours: Mapped[float | None] = mapped_column(Float)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_on_time: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)

    __table_args__ = (
        Index("ix_cases_status_deadline", "status", "deadline_at"),
        Index("ix_cases_category_time", "category_code", "created_at"),
        # The KPIs of a period read off this index alone, not the table (a city's quarter
        # is a quarter of a million cases).
        Index(
            "ix_cases_kpis",
            "created_at",
            "cell_code",
            "status",
            "closed_on_time",
            "rework_count",
            "deadline_at",
            "handling_hours",
        ),
        # The handled cases whose handling time is not kept yet (written by other means
        # than the workflow: a load, a repair by hand): empty, as it should stay, it costs
        # nothing to ask it.
        Index(
            "ix_cases_unmeasured",
            "created_at",
            postgresql_where=text(UNMEASURED),
            sqlite_where=text(UNMEASURED),
        ),
    )


class CaseEvent(Base):
    """One step of a case: who, when, what, and a note."""

    __tablename__ = "case_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    actor_name: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Holiday(Base):
    """A date the calendar treats differently: a holiday, or a weekend day worked (调休)."""

    __tablename__ = "holidays"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    working: Mapped[bool] = mapped_column(Boolean, default=False)
