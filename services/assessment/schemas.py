"""The assessment service's wire format."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from services.assessment import rules
from services.common.geo import CoordSystem
from services.common.schemas import Timestamp, WireModel
from services.common.validators import AreaCodeStr, FileIdStr

Category = Literal["party_building", "ideology", "services", "facilities", "security", "sanitation"]
TargetUnit = Literal["times", "people", "hours", "yuan", "m2", "opening_hours_per_week"]


class PledgeIn(WireModel):
    category: Category
    description: str = Field(min_length=1, max_length=500)
    target_quantity: Decimal = Field(gt=0, le=10**9)
    target_unit: TargetUnit
    per: Literal["quarter", "half", "year"] = "quarter"
    facility_name: str | None = Field(default=None, max_length=100)
    facility_capacity: int | None = Field(default=None, ge=0)
    facility_hours: str | None = Field(default=None, max_length=200)
    # where the facility is, for residents looking around them: both coordinates or neither
    facility_address: str | None = Field(default=None, max_length=255)
    facility_lat: float | None = Field(default=None, ge=-90, le=90)
    facility_lng: float | None = Field(default=None, ge=-180, le=180)
    coord_system: CoordSystem = Field(
        default="wgs84", description="the system of facility_lat, facility_lng (stored WGS-84)"
    )


class PledgeProgress(BaseModel):
    """How far a pledge has come in its current period (the one of ``per`` holding today,
    within the agreement's term): confirmed records only."""

    period: str
    period_name: str  # 2026年第三季度
    done: float
    target: float
    unit_name: str  # 次, 小时: what done and target count in (a weekly rate's: hours)
    percent: float  # done ÷ target, capped at 100


class PledgeOut(PledgeIn):
    id: str
    target_unit_name: str  # 次, 小时/周: target_unit in words
    progress: PledgeProgress | None = None

    @computed_field(description="党建联创, 服务联办 ...: category in words")  # type: ignore[prop-decorator]
    @property
    def category_name(self) -> str | None:
        return rules.name_of(rules.CATEGORY_NAMES, self.category)


class AgreementCreate(WireModel):
    unit_id: str = Field(min_length=1, max_length=36)
    community_code: AreaCodeStr
    title: str = Field(min_length=1, max_length=200)
    term_start: date
    term_end: date
    pledges: list[PledgeIn] = Field(min_length=1, max_length=50)


class AgreementOut(BaseModel):
    id: str
    root_id: str
    version: int
    unit_id: str
    unit_name: str
    community_code: str
    title: str
    term_start: date
    term_end: date
    status: str
    unit_signed_at: Timestamp | None
    community_signed_at: Timestamp | None
    terminated_reason: str | None
    pledges: list[PledgeOut]

    @computed_field(description="待签署, 生效中, 已终止, 已被替代 or 已到期")  # type: ignore[prop-decorator]
    @property
    def status_name(self) -> str | None:
        return rules.name_of(rules.AGREEMENT_STATUS_NAMES, self.status)


class SignIn(WireModel):
    party: Literal["unit", "community"]


class TerminateIn(WireModel):
    reason: str = Field(min_length=2, max_length=255)


class RecordIn(WireModel):
    pledge_id: str = Field(min_length=1, max_length=36)
    day: date
    quantity: Decimal = Field(gt=0, le=10**9)
    participants: int | None = Field(default=None, ge=0, le=1_000_000)
    description: str = Field(min_length=1, max_length=4000)
    evidence: list[FileIdStr] = Field(default_factory=list, max_length=20)


class RecordOut(BaseModel):
    id: str
    pledge_id: str
    agreement_id: str
    day: date
    quantity: Decimal
    participants: int | None
    description: str
    evidence: list[str]
    status: str
    review_note: str | None
    created_at: Timestamp

    @computed_field(description="待确认, 已确认 or 有异议")  # type: ignore[prop-decorator]
    @property
    def status_name(self) -> str | None:
        return rules.name_of(rules.RECORD_STATUS_NAMES, self.status)


class ReviewIn(WireModel):
    note: str | None = Field(default=None, max_length=500)


class MeetingIn(WireModel):
    community_code: AreaCodeStr
    day: date
    attending_units: list[str] = Field(default_factory=list, max_length=200)
    minutes: str = Field(min_length=1, max_length=20000)
    decisions: list[str] = Field(default_factory=list, max_length=100)


class MeetingOut(MeetingIn):
    id: str


class FacilityOut(BaseModel):
    pledge_id: str
    agreement_id: str
    unit_id: str
    unit_name: str
    community_code: str
    name: str
    capacity: int | None
    opening_hours: str | None
    address: str | None = None
    lat: float | None = None
    lng: float | None = None
    coord_system: CoordSystem = "wgs84"
    # Metres from the point of a "near me" search; absent otherwise.
    distance_m: float | None = None


class IndicatorIn(WireModel):
    code: str = Field(min_length=2, max_length=48, pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["ratio", "threshold", "count"]
    source: Literal["registry", "volunteer", "grid", "co_building"]
    numerator: str | None = Field(default=None, max_length=48)
    denominator: str | None = Field(default=None, max_length=48)
    factor: Decimal = Decimal(1)
    comparator: Literal[">=", ">", "<=", "<"] = ">="
    threshold: Decimal
    per_quarter: bool = False
    weight: Decimal = Field(ge=0, le=1000)
    unit: str | None = Field(default=None, max_length=24)
    seed: str | None = Field(default=None, max_length=100)
    valid_from: str = Field(
        pattern=r"^\d{4}(H[12]|Q[1-4])?$", description="the first period it applies to"
    )


class IndicatorOut(BaseModel):
    code: str
    name: str
    kind: str
    source: str
    numerator: str | None
    denominator: str | None
    factor: Decimal
    comparator: str
    threshold: Decimal
    per_quarter: bool
    weight: Decimal
    unit: str | None
    seed: str | None
    valid_from: date


class IndicatorValue(BaseModel):
    code: str
    name: str
    value: float | None
    numerator: float | None
    denominator: float | None
    source: str
    threshold: float
    comparator: str
    passed: bool
    weight: float
    # "%", "m²", "人"...: how the value reads (absent from snapshots published before it was)
    unit: str | None = None

    # How an official reads the figures, worded as the xlsx export words them (one formatter):
    # a fraction in per cent (0.0191 → 1.91%), a figure with its unit (12 次).
    @computed_field(description="1.91%, 320 m², 12 次 or 无数据")  # type: ignore[prop-decorator]
    @property
    def display(self) -> str:
        return rules.shown_value(self.value, self.unit)

    @computed_field(description="no figure (counted as not met)")  # type: ignore[prop-decorator]
    @property
    def no_data(self) -> bool:
        return self.value is None

    @computed_field(description="达标, 未达标 or 未达标(无数据)")  # type: ignore[prop-decorator]
    @property
    def passed_name(self) -> str:
        return rules.shown_result(self.value, self.passed)

    @computed_field(description="what it asks: ≥ 10%")  # type: ignore[prop-decorator]
    @property
    def threshold_display(self) -> str:
        return rules.shown_standard(self.comparator, self.threshold, self.unit)


class CommunityScore(BaseModel):
    community_code: str
    name: str | None
    indicators: list[IndicatorValue]
    total: float
    rank: int


class ScoresOut(BaseModel):
    area: str
    period: str
    published: bool
    version: int | None = None
    published_at: Timestamp | None = None
    communities: list[CommunityScore]
    # The next page of the ranking, when it comes a page at a time (``limit``, ``cursor``)
    next_cursor: str | None = None


class PublishIn(WireModel):
    area: AreaCodeStr
    period: str = Field(max_length=8)


class PledgeScore(BaseModel):
    """One pledge of a unit, as its score counts it over the period asked."""

    pledge_id: str
    agreement_id: str
    category: str
    category_name: str  # 服务联办
    description: str
    target: str  # 每季度 1 次
    target_quantity: float
    target_unit: str
    target_unit_name: str  # 小时/周
    per: str
    required: float  # what the target asks over the period
    done: float  # confirmed in the period
    unit_name: str  # 小时: what required and done count in
    percent: float  # done ÷ required, capped at 100
    fulfilment: float  # the same, as a fraction


class UnitScore(BaseModel):
    unit_id: str
    unit_name: str
    pledges: int
    fulfilment: float
    score: float
    rank: int
    advanced_candidate: bool
    flagged: bool
    # Why it is flagged (empty when it is not): sentences, and their stable codes in the same
    # order (score_below_flag_line, then pledge_short for each pledge that fell short).
    flag_reasons: list[str]
    flag_codes: list[str]
    by_pledge: list[PledgeScore]


class UnitScoresOut(BaseModel):
    area: str
    period: str
    period_name: str  # 2026年
    units: list[UnitScore]


# The years a model-community application may be for, in the body and in the list's filter.
APPLICATION_YEARS = {"ge": 2000, "le": 2100}


class ApplicationIn(WireModel):
    community_code: AreaCodeStr
    year: int = Field(**APPLICATION_YEARS)
    statement: str = Field(min_length=1, max_length=20000)
    attachments: list[str] = Field(default_factory=list, max_length=20)


class ApplicationEventOut(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    actor_id: str
    actor_name: str | None = None
    note: str | None
    at: Timestamp

    @computed_field(description="提交申请, 街道推荐, 区级批准 or 驳回")  # type: ignore[prop-decorator]
    @property
    def action_name(self) -> str | None:
        return rules.name_of(rules.APPLICATION_ACTION_NAMES, self.action)

    @computed_field(description="null for the first step")  # type: ignore[prop-decorator]
    @property
    def from_status_name(self) -> str | None:
        return rules.name_of(rules.APPLICATION_STATUS_NAMES, self.from_status)

    @computed_field(description="to_status in words")  # type: ignore[prop-decorator]
    @property
    def to_status_name(self) -> str | None:
        return rules.name_of(rules.APPLICATION_STATUS_NAMES, self.to_status)


class ApplicationOut(BaseModel):
    id: str
    community_code: str
    year: int
    status: str
    statement: str
    attachments: list[str]
    # The community's score when it applied, read as /scores reads it (one formatter); null
    # when there was no figure to score.
    score: CommunityScore | None
    history: list[ApplicationEventOut]

    @computed_field(description="待街道推荐, 待区级审批, 已批准 or 已驳回")  # type: ignore[prop-decorator]
    @property
    def status_name(self) -> str | None:
        return rules.name_of(rules.APPLICATION_STATUS_NAMES, self.status)


class ApplicationStep(WireModel):
    action: Literal["recommend", "approve", "reject"]
    note: str | None = Field(default=None, max_length=500)
