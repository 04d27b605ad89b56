"""The grid service's wire format."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from services.common.geo import CoordSystem
from services.common.schemas import NOT_NULL, SentTimestamp, Timestamp, WireModel, WithPoint
from services.common.validators import AreaCodeStr, FileIdStr


class CellCreate(WireModel):
    community_code: AreaCodeStr
    code: str | None = Field(
        default=None, pattern=r"^\d{13,20}$", description="default: the next in sequence"
    )
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["comprehensive", "dedicated"] = "comprehensive"
    dedicated_to: str | None = Field(default=None, max_length=100)
    household_target: int | None = Field(default=None, ge=0, le=100_000)
    responsible: str | None = Field(default=None, max_length=100)
    boundary: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon")
    coord_system: CoordSystem = "wgs84"
    valid_from: date | None = None
    valid_to: date | None = None


class CellPatch(WireModel):
    name: Annotated[str | None, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    kind: Annotated[Literal["comprehensive", "dedicated"] | None, NOT_NULL] = None
    dedicated_to: str | None = Field(default=None, max_length=100)
    household_target: int | None = Field(default=None, ge=0, le=100_000)
    responsible: str | None = Field(default=None, max_length=100)
    boundary: Annotated[dict[str, Any] | None, NOT_NULL] = None
    coord_system: CoordSystem = "wgs84"
    valid_from: date | None = None
    valid_to: date | None = None


class MemberOut(BaseModel):
    user_id: str
    role: str
    display_name: str


class CellOut(BaseModel):
    code: str
    community_code: str
    name: str
    kind: str
    dedicated_to: str | None
    household_target: int | None
    responsible: str | None
    boundary: dict[str, Any]
    coord_system: CoordSystem = "wgs84"
    valid_from: date | None
    valid_to: date | None
    members: list[MemberOut] = []
    updated_at: Timestamp


class MembersIn(WireModel):
    workers: list[str] = Field(default_factory=list, max_length=50)
    leader: str | None = Field(default=None, max_length=36)


class LocateOut(BaseModel):
    code: str
    name: str
    community_code: str


class CoverageOut(BaseModel):
    cell_code: str
    period: str
    households: int
    visited: int
    coverage: float | None


class VisitCreate(WithPoint):
    id: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F-]{32,36}$", description="made by the phone, offline"
    )
    household_id: str = Field(min_length=1, max_length=36)
    visited_at: SentTimestamp
    findings: list[str] = Field(default_factory=list, max_length=20)
    note: str | None = Field(default=None, max_length=2000)
    photos: list[FileIdStr] = Field(default_factory=list, max_length=9)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"


class VisitOut(BaseModel):
    id: str
    household_id: str
    cell_code: str | None
    community_code: str
    worker_id: str
    visited_at: Timestamp
    findings: list[str]
    note: str | None
    photos: list[str]
    inside_cell: bool | None
    distance_m: float | None
    created_at: Timestamp


class CategoryOut(BaseModel):
    code: str
    class_code: str
    class_name: str
    name: str
    priority: str
    deadline_unit: str
    accept_within: float
    dispatch_within: float
    handle_within: float
    verify_within: float
    close_within: float


class CaseCreate(WireModel):
    id: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F-]{32,36}$", description="made by the phone, offline"
    )
    category_code: str = Field(min_length=1, max_length=16)
    description: str = Field(min_length=1, max_length=2000)
    address: str | None = Field(default=None, max_length=255)
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"
    photos: list[FileIdStr] = Field(default_factory=list, max_length=9)
    source: Literal["grid_worker", "resident", "hotline", "open311"] | None = None
    priority: Literal["normal", "urgent"] | None = None


class CaseEventOut(BaseModel):
    action: str
    action_name: str = ""  # 立案
    from_status: str | None
    from_status_name: str | None = None
    to_status: str
    to_status_name: str = ""  # 已立案
    actor_id: str
    actor_name: str | None = None
    actor_roles: list[str]
    note: str | None
    data: dict[str, Any]
    at: Timestamp


class DuplicateOut(BaseModel):
    id: str
    distance_m: float
    status: str
    status_name: str
    created_at: Timestamp


class CaseOut(BaseModel):
    id: str
    category_code: str
    category_name: str  # 暴露垃圾: the codes below carry their Chinese names beside them too
    description: str
    address: str | None
    lat: float | None
    lng: float | None
    coord_system: CoordSystem = "wgs84"
    cell_code: str | None
    community_code: str | None
    source: str
    photos: list[str]
    priority: str
    priority_name: str  # 一般 / 紧急
    status: str
    status_name: str  # 已上报, 已派遣 ...
    step: str | None
    deadline_at: Timestamp | None
    overdue: bool
    dispatched_to: str | None
    assignee_id: str | None = None
    rework_count: int
    extension_pending: bool
    rating: int | None
    allowed_actions: list[str]  # the steps the case allows now
    my_actions: list[str] = []  # of those, the ones the caller may take
    created_at: Timestamp
    updated_at: Timestamp
    closed_at: Timestamp | None
    history: list[CaseEventOut] | None = None
    possible_duplicates: list[DuplicateOut] | None = None


class TransitionIn(WireModel):
    action: Literal[
        "accept",
        "reject",
        "dispatch",
        "handle",
        "verify",
        "return",
        "close",
        "request_extension",
        "approve_extension",
        "reject_extension",
        "evaluate",
    ]
    note: str | None = Field(default=None, max_length=2000)
    dispatched_to: str | None = Field(
        default=None, max_length=100, description="dispatch: the department"
    )
    unit_id: str | None = Field(
        default=None, max_length=36, description="dispatch: a resident unit"
    )
    assignee_id: str | None = Field(
        default=None, max_length=36, description="dispatch: a grid worker of the case's cell"
    )
    photos: list[FileIdStr] = Field(
        default_factory=list, max_length=9, description="handle: after-photos"
    )
    passed: bool | None = Field(default=None, description="verify: false sends it back (rework)")
    hours: float | None = Field(default=None, gt=0, le=2000, description="request_extension")
    rating: int | None = Field(default=None, ge=1, le=5, description="evaluate")


class KpiRow(BaseModel):
    code: str
    cases: int
    closed: int
    on_time_close_rate: float | None
    median_handling_hours: float | None
    rework_rate: float | None
    overdue: int


class KpiOut(BaseModel):
    area: str
    period: str
    group_by: str
    rows: list[KpiRow]


class SyncOut(BaseModel):
    cursor: str
    full: bool
    cells: list[CellOut]
    buildings: list[dict[str, Any]]
    households: list[dict[str, Any]]
    residents: list[dict[str, Any]]
    cases: list[CaseOut]
    deleted: dict[str, list[str]]


class HolidayIn(WireModel):
    day: date
    name: str = Field(min_length=1, max_length=50)
    working: bool = False


class Period(BaseModel):
    label: str
    start: datetime
    end: datetime


class VisitsToDo(BaseModel):
    cell_code: str
    period: str
    households: int
    visited: int
    to_visit: int


class MyWorkOut(BaseModel):
    assigned: list[CaseOut]
    reported: list[CaseOut]
    due_soon: list[CaseOut]
    visits: list[VisitsToDo]
