"""The assessment service's wire format."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.common.schemas import Timestamp, WireModel
from services.common.validators import AreaCodeStr

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


class PledgeOut(PledgeIn):
    id: str


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
    evidence: list[str] = Field(default_factory=list, max_length=20)


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
    agreement_id: str
    unit_id: str
    unit_name: str
    community_code: str
    name: str
    capacity: int | None
    opening_hours: str | None


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


class PublishIn(WireModel):
    area: AreaCodeStr
    period: str = Field(max_length=8)


class UnitScore(BaseModel):
    unit_id: str
    unit_name: str
    pledges: int
    fulfilment: float
    score: float
    rank: int
    advanced_candidate: bool
    flagged: bool
    by_pledge: list[dict[str, Any]]


class UnitScoresOut(BaseModel):
    area: str
    period: str
    units: list[UnitScore]


class ApplicationIn(WireModel):
    community_code: AreaCodeStr
    year: int = Field(ge=2000, le=2100)
    statement: str = Field(min_length=1, max_length=20000)
    attachments: list[str] = Field(default_factory=list, max_length=20)


class ApplicationEventOut(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    actor_id: str
    note: str | None
    at: Timestamp


class ApplicationOut(BaseModel):
    id: str
    community_code: str
    year: int
    status: str
    statement: str
    attachments: list[str]
    score: dict[str, Any]
    history: list[ApplicationEventOut]


class ApplicationStep(WireModel):
    action: Literal["recommend", "approve", "reject"]
    note: str | None = Field(default=None, max_length=500)
