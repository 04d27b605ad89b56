"""The volunteer service's tables: volunteers (real-name, personal data sealed), teams,
activities with their sign-ups and attendance, and the hours ledger, which is only ever
appended to."""

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
from services.common.events import inbox_table, outbox_table
from services.common.history import history_table
from services.common.idempotency import idempotency_table
from services.common.ids import new_id


class Base(DeclarativeBase):
    metadata = new_metadata()


idempotency_keys = idempotency_table(Base.metadata)
# Events this service has handled (delivery is at least once; the effect exactly once).
inbox = inbox_table(Base.metadata)
# What others rely on (the gateway links an account to the resident a registration matched).
outbox = outbox_table(Base.metadata)
# Who changed which record, when, and how (services.common.history).
change_history = history_table(Base.metadata)


class Volunteer(Base):
    __tablename__ = "volunteers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(24), unique=True)  # not the ID number
    user_id: Mapped[str] = mapped_column(String(36), unique=True)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    resident_id: Mapped[str | None] = mapped_column(String(36))  # matched in the registry
    name: Mapped[str] = mapped_column(String(50))
    id_number_enc: Mapped[str] = mapped_column(String(128))
    id_number_index: Mapped[str] = mapped_column(String(64), unique=True)  # one person, one record
    id_number_masked: Mapped[str] = mapped_column(String(18))
    birth_date: Mapped[date] = mapped_column(Date)
    phone_enc: Mapped[str] = mapped_column(String(128))
    phone_masked: Mapped[str] = mapped_column(String(16))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    availability: Mapped[str | None] = mapped_column(String(200))
    in_service_party_member: Mapped[bool] = mapped_column(Boolean, default=False)
    employer_unit_id: Mapped[str | None] = mapped_column(String(36), index=True)
    party_reported_on: Mapped[date | None] = mapped_column(Date)  # 在职党员到社区报到
    guardian_name: Mapped[str | None] = mapped_column(String(50))
    guardian_phone_enc: Mapped[str | None] = mapped_column(String(128))
    guardian_consent: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))  # active pending rejected withdrawn
    # Why a registration waits for a person: not_in_registry, phone_differs.
    review_reason: Mapped[str | None] = mapped_column(String(32))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the worker said with the review (why it was rejected), told to the resident.
    review_note: Mapped[str | None] = mapped_column(String(200))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The latest day of approved hours that served (hours > 0), kept as they are approved:
    # who was active within a year is read off the volunteers' index, not found among every
    # hours line of the city (repository.mark_served).
    last_served_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    __table_args__ = (
        # Scoped lists page in (community, id) order off this index.
        Index("ix_volunteers_status_community_id", "status", "community_code", "id"),
        # The registration rate's counts per community, active share included, off this alone.
        Index(
            "ix_volunteers_status_community_served", "status", "community_code", "last_served_on"
        ),
    )


class NumberCounter(Base):
    """The last volunteer number given in each community."""

    __tablename__ = "number_counters"

    community_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))  # party_member youth elderly_care patrol ...
    leader_id: Mapped[str | None] = mapped_column(String(36))
    # open: any active volunteer of the community joins by themselves; invited: a worker
    # adds the members (the party-member team takes in-service party members by themselves).
    joining: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    # One party-member team 党员志愿服务队 per community, however many first looks at once
    # make it (INSERT ... ON CONFLICT DO NOTHING against this index).
    __table_args__ = (
        Index(
            "uq_teams_party_member",
            "community_code",
            unique=True,
            sqlite_where=text("kind = 'party_member'"),
            postgresql_where=text("kind = 'party_member'"),
        ),
    )


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    volunteer_id: Mapped[str] = mapped_column(
        ForeignKey("volunteers.id"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Activity(Base):
    __tablename__ = "activities"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    team_id: Mapped[str | None] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    address: Mapped[str | None] = mapped_column(String(255))
    lat: Mapped[float | None] = mapped_column(Float)  # WGS-84
    lng: Mapped[float | None] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float, default=200)
    capacity: Mapped[int] = mapped_column(Integer)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)  # kept under capacity atomically
    arrivals: Mapped[int] = mapped_column(Integer, default=0)  # the sign-up sequence
    signup_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="published")  # cancelled finished
    checkin_secret: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    __table_args__ = (Index("ix_activities_community_start", "community_code", "start_at"),)


class Signup(Base):
    __tablename__ = "signups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    activity_id: Mapped[str] = mapped_column(ForeignKey("activities.id"))
    volunteer_id: Mapped[str] = mapped_column(ForeignKey("volunteers.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # order of arrival
    status: Mapped[str] = mapped_column(String(16))  # confirmed waitlisted cancelled no_show
    # copied from the activity, so overlap checks read one table
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    check_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    check_in_ok: Mapped[bool | None] = mapped_column(Boolean)
    check_in_distance_m: Mapped[float | None] = mapped_column(Float)
    check_in_method: Mapped[str | None] = mapped_column(String(8))
    check_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    check_out_ok: Mapped[bool | None] = mapped_column(Boolean)
    check_out_distance_m: Mapped[float | None] = mapped_column(Float)
    # The last refused check-out (outside the window or the geofence, a stale or forged
    # code) and why: the attendance then waits for a person instead of being credited.
    check_out_tried_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_reason: Mapped[str | None] = mapped_column(String(32))
    auto_closed: Mapped[bool] = mapped_column(Boolean, default=False)  # forgot to check out
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(
            "uq_signups_live",
            "activity_id",
            "volunteer_id",
            unique=True,
            sqlite_where=text("status != 'cancelled'"),
            postgresql_where=text("status != 'cancelled'"),
        ),
        Index("ix_signups_activity_status_position", "activity_id", "status", "position"),
    )


class HoursEntry(Base):
    """One line of the hours ledger. Never edited: a correction is a new line with a reason,
    entered by one worker and approved by another."""

    __tablename__ = "hours_entries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    volunteer_id: Mapped[str] = mapped_column(ForeignKey("volunteers.id"), index=True)
    community_code: Mapped[str] = mapped_column(String(12))
    activity_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))  # activity correction back_entry
    service_date: Mapped[date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    reason: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # approved pending rejected
    entered_by: Mapped[str] = mapped_column(String(64))
    # As people read it: a worker's name, or the activity that closed it (活动“楼道清扫”).
    entered_by_name: Mapped[str | None] = mapped_column(String(100))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_by_name: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    # Who served since a day, read off this index alone.
    __table_args__ = (
        Index("ix_hours_status_date_volunteer", "status", "service_date", "volunteer_id", "hours"),
    )
