"""The volunteer service's wire format."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from services.common.geo import CoordSystem
from services.common.schemas import SentTimestamp, Timestamp, WireModel, WithPoint
from services.common.validators import AreaCodeStr, IdNumberStr, MobileStr
from services.volunteer.names import (
    ACTIVITY_STATUS_NAMES,
    HOURS_KIND_NAMES,
    HOURS_STATUS_NAMES,
    SIGNUP_REVIEW_REASON_NAMES,
    SIGNUP_STATUS_NAMES,
    TEAM_JOINING_NAMES,
    TEAM_KIND_NAMES,
    VOLUNTEER_STATUS_NAMES,
    activity_category_name,
    name_of,
)


class Guardian(WireModel):
    name: str = Field(min_length=1, max_length=50)
    phone: MobileStr
    consent: bool


class VolunteerCreate(WireModel):
    name: str = Field(min_length=1, max_length=50)
    id_number: IdNumberStr
    phone: MobileStr
    community_code: AreaCodeStr
    skills: list[str] = Field(default_factory=list, max_length=20)
    availability: str | None = Field(default=None, max_length=200)
    in_service_party_member: bool = False
    employer_unit_id: str | None = Field(default=None, max_length=36)
    guardian: Guardian | None = Field(default=None, description="required from 14 to 17")


class VolunteerOut(BaseModel):
    id: str
    number: str
    name: str
    id_number_masked: str
    phone: str
    community_code: str
    skills: list[str]
    availability: str | None
    in_service_party_member: bool
    employer_unit_id: str | None
    party_reported_on: date | None
    status: str  # active pending rejected withdrawn
    # Why a registration waits for review: not_in_registry, phone_differs; null otherwise.
    review_reason: str | None = None
    review_reason_name: str | None = None  # 未在居民登记中找到
    review_note: str | None = None  # what the worker said with the review
    matched_resident: bool
    created_at: Timestamp
    # The teams the volunteer is in: on their own record (registering, GET /volunteers/me,
    # withdrawing, reporting); null where others read it (lists, reviews).
    teams: list[TeamBrief] | None = None

    @computed_field(description="有效, 待审核, 未通过审核 or 已退出")  # type: ignore[prop-decorator]
    @property
    def status_name(self) -> str:
        return name_of(VOLUNTEER_STATUS_NAMES, self.status)


class TeamBrief(BaseModel):
    id: str
    name: str
    kind: str

    @computed_field(description="党员志愿服务队, 为老服务队… or the deployment's own code")  # type: ignore[prop-decorator]
    @property
    def kind_name(self) -> str:
        return name_of(TEAM_KIND_NAMES, self.kind)


class Review(WireModel):
    note: str | None = Field(default=None, max_length=255)


class TeamCreate(WireModel):
    community_code: AreaCodeStr
    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="party_member, youth, elderly_care, patrol, or the deployment's own",
    )
    leader_id: str | None = Field(default=None, max_length=36)
    joining: Literal["open", "invited"] = Field(
        default="open",
        description="open: volunteers of the community join by themselves; invited: a worker "
        "adds them",
    )


class TeamMembers(WireModel):
    volunteer_ids: list[str] = Field(max_length=500)
    leader_id: str | None = Field(default=None, max_length=36)


class TeamOut(BaseModel):
    id: str
    community_code: str
    name: str
    kind: str
    leader_id: str | None
    joining: str
    members: int

    @computed_field(description="党员志愿服务队, 为老服务队… or the deployment's own code")  # type: ignore[prop-decorator]
    @property
    def kind_name(self) -> str:
        return name_of(TEAM_KIND_NAMES, self.kind)

    @computed_field(description="自由加入 or 邀请加入")  # type: ignore[prop-decorator]
    @property
    def joining_name(self) -> str:
        return name_of(TEAM_JOINING_NAMES, self.joining)


class ActivityCreate(WithPoint):
    community_code: AreaCodeStr
    team_id: str | None = Field(default=None, max_length=36)
    title: str = Field(min_length=1, max_length=200)
    category: str = Field(min_length=1, max_length=32)
    description: str | None = Field(default=None, max_length=4000)
    start_at: SentTimestamp
    end_at: SentTimestamp
    address: str | None = Field(default=None, max_length=255)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"
    radius_m: float = Field(default=200, gt=0, le=5000)
    capacity: int = Field(ge=1, le=100_000)
    signup_deadline: SentTimestamp | None = None
    cancel_deadline: SentTimestamp | None = None


class ActivityUpdate(WireModel):
    """What an organiser may change; a field left out stays as it is. A field that cannot
    be empty refuses a null (its default is never validated, a null sent is)."""

    title: str = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    start_at: SentTimestamp = None
    end_at: SentTimestamp = None
    address: str | None = Field(default=None, max_length=255)
    lat: float = Field(default=None, ge=-90, le=90)
    lng: float = Field(default=None, ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"
    radius_m: float = Field(default=None, gt=0, le=5000)
    capacity: int = Field(default=None, ge=1, le=100_000)


class ActivityOut(BaseModel):
    id: str
    community_code: str
    team_id: str | None
    title: str
    category: str
    description: str | None
    start_at: Timestamp
    end_at: Timestamp
    address: str | None
    lat: float | None
    lng: float | None
    coord_system: CoordSystem = "wgs84"
    radius_m: float
    capacity: int
    confirmed: int
    waitlisted: int | None = None
    signup_deadline: Timestamp | None
    cancel_deadline: Timestamp | None
    status: str  # published cancelled finished
    # Metres from the point of a "near me" search; absent otherwise.
    distance_m: float | None = None

    @computed_field(description="已发布, 已取消 or 已结束")  # type: ignore[prop-decorator]
    @property
    def status_name(self) -> str:
        return name_of(ACTIVITY_STATUS_NAMES, self.status)

    @computed_field(description="the category's name; a code no table names, as itself")  # type: ignore[prop-decorator]
    @property
    def category_name(self) -> str:
        return activity_category_name(self.category)


class SignupOut(BaseModel):
    id: str
    activity_id: str
    volunteer_id: str
    status: str  # confirmed waitlisted cancelled no_show
    position: int
    waitlist_rank: int | None = None
    start_at: Timestamp
    end_at: Timestamp
    check_in_at: Timestamp | None
    check_in_ok: bool | None
    check_out_at: Timestamp | None
    check_out_ok: bool | None = None
    auto_closed: bool
    # A refused check-out not followed by a good one: the hours wait for a worker.
    flagged: bool = False
    # check_out_outside_window, check_out_outside_geofence, check_out_token_expired,
    # check_out_token_invalid, no_check_out; null otherwise.
    review_reason: str | None = None
    # Who signed up, for the organiser's roll call (the list of an activity's sign-ups):
    # the volunteer's name, number and phone, masked as on the volunteer; null elsewhere.
    volunteer_name: str | None = None
    volunteer_number: str | None = None
    volunteer_phone: str | None = None

    @computed_field(description="已确认, 候补中, 已取消 or 未到场")  # type: ignore[prop-decorator]
    @property
    def status_name(self) -> str:
        return name_of(SIGNUP_STATUS_NAMES, self.status)

    @computed_field(description="review_reason by name, or null")  # type: ignore[prop-decorator]
    @property
    def review_reason_name(self) -> str | None:
        return name_of(SIGNUP_REVIEW_REASON_NAMES, self.review_reason)


class AttendanceIn(WithPoint):
    action: Literal["check_in", "check_out"]
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"
    token: str | None = Field(default=None, max_length=100, description="the organiser's QR token")


class AttendanceOut(BaseModel):
    action: str
    ok: bool
    method: str
    distance_m: float | None
    at: Timestamp


class CheckinToken(BaseModel):
    token: str
    expires_at: Timestamp


class FinishOut(BaseModel):
    activity_id: str
    attended: int
    no_shows: int
    auto_closed: int
    # Refused check-outs: their hours are pending, for a worker to approve or reject.
    flagged: int
    hours_entries: int
    pending_approval: int


class HoursEntryOut(BaseModel):
    id: str
    kind: str  # activity correction back_entry
    activity_id: str | None
    service_date: date
    hours: Decimal
    reason: str | None
    status: str  # approved pending rejected
    entered_by: str
    entered_by_name: str | None = None
    approved_by: str | None
    approved_by_name: str | None = None
    approved_at: Timestamp | None = None
    created_at: Timestamp

    @computed_field(description="已通过, 待审核 or 未通过")  # type: ignore[prop-decorator]
    @property
    def status_name(self) -> str:
        return name_of(HOURS_STATUS_NAMES, self.status)

    @computed_field(description="活动服务, 更正 or 补录")  # type: ignore[prop-decorator]
    @property
    def kind_name(self) -> str:
        return name_of(HOURS_KIND_NAMES, self.kind)


class HoursOut(BaseModel):
    volunteer_id: str
    total_hours: Decimal
    star_level: int
    next_level_hours: Decimal | None
    entries: list[HoursEntryOut]
    next_cursor: str | None = None


class AdjustmentIn(WireModel):
    volunteer_id: str = Field(min_length=1, max_length=36)
    hours: Decimal = Field(ge=-100, le=100, decimal_places=2)
    service_date: date
    reason: str = Field(min_length=2, max_length=255)
    kind: Literal["correction", "back_entry"] = "correction"


class CorrectionRequest(WireModel):
    """A volunteer asks for their record to be corrected (2021 rules on service records)."""

    hours: Decimal = Field(ge=-100, le=100, decimal_places=2)
    service_date: date
    reason: str = Field(min_length=2, max_length=255)
    activity_id: str | None = Field(default=None, max_length=36)


class RateRow(BaseModel):
    area: str
    name: str | None = None
    residents: int
    volunteers: int
    rate: float | None
    target: float
    shortfall: int
    active_last_12_months: int
    active_share: float | None


class RateOut(RateRow):
    children: list[RateRow]


class PartyMemberRow(BaseModel):
    key: str
    reported: int
    hours: Decimal


class PartyMemberStats(BaseModel):
    area: str
    by_unit: list[PartyMemberRow]
    by_community: list[PartyMemberRow]


class PartyReportOut(BaseModel):
    """One in-service party member who reported to the community (在职党员报到), as the
    community reads it: masked personal data only."""

    volunteer_id: str
    number: str
    name: str
    phone: str  # masked
    community_code: str
    employer_unit_id: str | None
    employer_unit_name: str | None  # from the registry; null when it does not know the unit
    reported_on: date
    hours: Decimal  # approved hours served in this community
    # False when the volunteer was not matched to a resident of the registry.
    verified: bool


class ReviewIn(WireModel):
    """What a worker says with a review, kept as its review_note: how an approved
    registration was checked, or why one was rejected, for the resident. ``note`` is the
    word the other reviews use; ``reason`` is the older name, still read."""

    note: str | None = Field(default=None, min_length=1, max_length=200)
    reason: str | None = Field(default=None, min_length=1, max_length=200)

    @property
    def text(self) -> str | None:
        return self.note or self.reason
