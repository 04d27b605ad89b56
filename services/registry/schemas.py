"""The registry's wire format."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, computed_field

from services.common.geo import CoordSystem
from services.common.schemas import NOT_NULL, Timestamp, WireModel, WithPoint
from services.common.validators import AreaCodeStr, IdNumberStr, MobileStr, UsccStr
from services.registry import rules

ResidenceType = Literal["registered", "permanent", "floating"]
UnitCategory = Literal[
    "agency",
    "institution",
    "school",
    "hospital",
    "enterprise",
    "individual_business",
    "cooperative",
    "social_org",
    "mass_org",
    "other",
]
TagCode = str


class Warning_(BaseModel):
    field: str
    code: str
    message: str


# --- areas ---------------------------------------------------------------------------------


class AreaProfile(WireModel):
    """The community profile the assessment reads (m², people, yuan a year)."""

    office_area_m2: Decimal | None = Field(default=None, ge=0, le=1_000_000)
    service_area_m2: Decimal | None = Field(default=None, ge=0, le=1_000_000)
    activity_venue_m2: Decimal | None = Field(default=None, ge=0, le=1_000_000)
    activity_square_m2: Decimal | None = Field(default=None, ge=0, le=10_000_000)
    full_time_staff: int | None = Field(default=None, ge=0, le=10_000)
    annual_funding_yuan: Decimal | None = Field(default=None, ge=0, le=10**11)


class AreaCreate(AreaProfile):
    code: AreaCodeStr
    name: str = Field(min_length=1, max_length=100)


class AreaPatch(AreaProfile):
    name: Annotated[str | None, NOT_NULL] = Field(default=None, min_length=1, max_length=100)


class AreaOut(BaseModel):
    code: str
    name: str
    level: str
    kind: str
    parent_code: str | None
    office_area_m2: Decimal | None = None
    service_area_m2: Decimal | None = None
    activity_venue_m2: Decimal | None = None
    activity_square_m2: Decimal | None = None
    full_time_staff: int | None = None
    annual_funding_yuan: Decimal | None = None
    units_of_measure: dict[str, str] = {
        "office_area_m2": "m²",
        "service_area_m2": "m²",
        "activity_venue_m2": "m²",
        "activity_square_m2": "m²",
        "full_time_staff": "人",
        "annual_funding_yuan": "元/年",
    }
    updated_at: Timestamp


class AreaStats(BaseModel):
    code: str
    name: str | None = None
    level: str | None = None
    residents: int
    by_residence_type: dict[str, int]
    households: int
    party_members: int
    minors: int
    tags: dict[str, int]
    by_residence_type_names: dict[str, str] = Field(
        default_factory=dict, description="residence type code → name: registered → 户籍"
    )
    tag_names: dict[str, str] = Field(
        default_factory=dict, description="tag code → name, for each tag counted: elderly → 老年人"
    )
    profile: dict[str, Decimal | int | None] | None = None


class ChildrenStats(BaseModel):
    area: AreaStats
    children: list[AreaStats]


# --- buildings and households --------------------------------------------------------------


class BuildingCreate(WithPoint):
    community_code: AreaCodeStr
    name: str = Field(min_length=1, max_length=100)
    address: str | None = Field(default=None, max_length=255)
    floors: int | None = Field(default=None, ge=1, le=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"


class BuildingPatch(WireModel):
    name: Annotated[str | None, NOT_NULL] = Field(default=None, min_length=1, max_length=100)
    address: str | None = Field(default=None, max_length=255)
    floors: int | None = Field(default=None, ge=1, le=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"
    cell_code: str | None = Field(default=None, max_length=32, pattern=r"^\d{12,20}$")


class BuildingOut(BaseModel):
    id: str
    community_code: str
    name: str
    address: str | None
    floors: int | None
    lat: float | None
    lng: float | None
    coord_system: CoordSystem = "wgs84"
    cell_code: str | None
    updated_at: Timestamp


class HouseholdCreate(WireModel):
    building_id: str = Field(min_length=1, max_length=36)
    door_no: str = Field(min_length=1, max_length=50)
    head_name: str | None = Field(default=None, max_length=50)


class HouseholdPatch(WireModel):
    door_no: Annotated[str | None, NOT_NULL] = Field(default=None, min_length=1, max_length=50)
    head_name: str | None = Field(default=None, max_length=50)


class HouseholdOut(BaseModel):
    id: str
    community_code: str
    building_id: str | None
    door_no: str
    head_name: str | None
    members: int | None = None
    updated_at: Timestamp


# --- residents -----------------------------------------------------------------------------


class ResidentCreate(WireModel):
    name: str = Field(min_length=1, max_length=50)
    id_number: IdNumberStr
    phone: MobileStr | None = None
    community_code: AreaCodeStr
    household_id: str | None = Field(default=None, max_length=36)
    relation_to_head: str | None = Field(default=None, max_length=20)
    residence_type: ResidenceType = "permanent"
    tags: list[TagCode] = Field(default_factory=list, max_length=20)
    moved_in_on: date | None = None


class ResidentPatch(WireModel):
    name: Annotated[str | None, NOT_NULL] = Field(default=None, min_length=1, max_length=50)
    id_number: Annotated[IdNumberStr | None, NOT_NULL] = None
    phone: MobileStr | None = None
    household_id: str | None = Field(default=None, max_length=36)
    relation_to_head: str | None = Field(default=None, max_length=20)
    residence_type: Annotated[ResidenceType | None, NOT_NULL] = None
    tags: Annotated[list[TagCode] | None, NOT_NULL] = Field(default=None, max_length=20)
    moved_in_on: date | None = None


class MoveOut(WireModel):
    moved_out_on: date
    reason: str = Field(min_length=1, max_length=255)


class _CodeNames(BaseModel):
    """The Chinese names of a resident's codes, shown beside them (the codes stay the
    contract): from the rules, except the tags', which a deployment defines."""

    gender: str
    residence_type: str
    tags: list[str]
    tag_names: list[str] = Field(description="the tags' names, in the order of tags")

    @computed_field(description="男 or 女")  # type: ignore[prop-decorator]
    @property
    def gender_name(self) -> str:
        return rules.gender_name(self.gender)

    @computed_field(description="户籍, 常住 or 流动")  # type: ignore[prop-decorator]
    @property
    def residence_type_name(self) -> str:
        return rules.residence_type_name(self.residence_type)


class ResidentOut(_CodeNames):
    id: str
    name: str
    id_number_masked: str
    phone: str | None = Field(description="masked")
    gender: str
    birth_date: date | None = Field(description="omitted for minors' data unless pii:read")
    age: int
    minor: bool = Field(description="under 14: minors' personal data (PIPL)")
    community_code: str
    household_id: str | None
    building_id: str | None
    relation_to_head: str | None
    residence_type: str
    tags: list[str]
    status: str
    moved_in_on: date | None
    moved_out_on: date | None
    updated_at: Timestamp

    @computed_field(description="在册 or 已迁出")  # type: ignore[prop-decorator]
    @property
    def status_name(self) -> str:
        return rules.resident_status_name(self.status)


class RevealRequest(WireModel):
    reason: str = Field(min_length=2, max_length=255, description="why the full value is needed")
    fields: list[Literal["id_number", "phone"]] = Field(
        default_factory=lambda: ["id_number", "phone"], min_length=1
    )


class RevealOut(BaseModel):
    id: str
    id_number: str | None = None
    phone: str | None = None


class AuditEntryOut(BaseModel):
    id: str
    at: Timestamp
    actor_id: str
    actor_roles: list[str]
    subject_type: str
    subject_id: str
    community_code: str
    fields: list[str]
    reason: str
    request_id: str | None


class TagCreate(WireModel):
    code: str = Field(min_length=2, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1, max_length=50)


class TagOut(BaseModel):
    code: str
    name: str
    builtin: bool
    residence_type: ResidenceType | None = Field(
        default=None,
        description="floating population 流动人口: searched and imported as a tag, kept as "
        "the residence type (set residence_type, not tags)",
    )


# --- units ---------------------------------------------------------------------------------


class FacilityIn(WireModel):
    name: str = Field(min_length=1, max_length=100)
    kind: str = Field(min_length=1, max_length=32, description="e.g. meeting_room, sports, canteen")
    capacity: int | None = Field(default=None, ge=0, le=100_000)
    opening_hours: str | None = Field(default=None, max_length=200)


class FacilityOut(FacilityIn):
    id: str


class UnitCreate(WireModel):
    name: str = Field(min_length=1, max_length=200)
    uscc: UsccStr
    category: UnitCategory
    community_code: AreaCodeStr
    address: str | None = Field(default=None, max_length=255)
    contact_name: str | None = Field(default=None, max_length=50)
    contact_phone: MobileStr | None = None
    party_org_name: str | None = Field(default=None, max_length=200)
    party_member_count: int | None = Field(default=None, ge=0, le=100_000)
    facilities: list[FacilityIn] = Field(default_factory=list, max_length=50)


class UnitPatch(WireModel):
    name: Annotated[str | None, NOT_NULL] = Field(default=None, min_length=1, max_length=200)
    category: Annotated[UnitCategory | None, NOT_NULL] = None
    address: str | None = Field(default=None, max_length=255)
    contact_name: str | None = Field(default=None, max_length=50)
    contact_phone: MobileStr | None = None
    party_org_name: str | None = Field(default=None, max_length=200)
    party_member_count: int | None = Field(default=None, ge=0, le=100_000)
    # [] takes every facility away; null would say nothing and is refused.
    facilities: Annotated[list[FacilityIn] | None, NOT_NULL] = Field(default=None, max_length=50)


class UnitOut(BaseModel):
    id: str
    name: str
    uscc: str
    category: str
    community_code: str
    address: str | None
    contact_name: str | None
    contact_phone: str | None = Field(description="masked")
    party_org_name: str | None
    party_member_count: int | None
    facilities: list[FacilityOut]
    warnings: list[Warning_] = []
    updated_at: Timestamp


# --- imports -------------------------------------------------------------------------------


class ImportAccepted(BaseModel):
    id: str
    status: str


class ImportRowError(BaseModel):
    row: int
    field: str
    message: str


class CreatedBuilding(BaseModel):
    """A building an import created because the roster named it and the import was told to
    create buildings: without a location it lies in no grid cell."""

    id: str
    community_code: str
    name: str
    has_location: bool


class ImportOut(BaseModel):
    id: str
    kind: str
    status: str
    filename: str
    total: int
    imported: int
    unchanged: int
    failed: int
    message: str | None
    errors: list[ImportRowError]
    errors_truncated: bool = False
    errors_url: str | None = None
    create_buildings: bool = False
    created_buildings: list[CreatedBuilding] = []
    # What was done but needs a look (a building created without a location), in Chinese.
    warnings: list[str] = []
    created_at: Timestamp
    finished_at: Timestamp | None


# --- for the grid service ------------------------------------------------------------------


class CellAssignment(WireModel):
    building_id: str = Field(min_length=1, max_length=36)
    cell_code: str | None = Field(default=None, max_length=32, pattern=r"^\d{13,20}$")


class CellAssignments(WireModel):
    assignments: list[CellAssignment] = Field(max_length=5000)


class CellAssignmentResult(BaseModel):
    updated: int


class CellCounts(BaseModel):
    cell_code: str
    buildings: int
    households: int
    residents: int


class SyncHousehold(BaseModel):
    id: str
    building_id: str | None
    door_no: str
    head_name: str | None
    updated_at: Timestamp


class SyncResident(_CodeNames):
    id: str
    name: str
    id_number_masked: str
    phone: str | None
    gender: str
    age: int
    household_id: str | None
    building_id: str | None
    relation_to_head: str | None
    residence_type: str
    tags: list[str]
    updated_at: Timestamp


class SyncDeleted(BaseModel):
    buildings: list[str] = []
    residents: list[str] = []


class RegistrySyncOut(BaseModel):
    buildings: list[BuildingOut]
    households: list[SyncHousehold]
    residents: list[SyncResident]
    deleted: SyncDeleted
