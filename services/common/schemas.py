"""Wire types every service uses: timestamps shown in the deployment's zone with their
offset, and coordinates that say which system they are in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from services.common.clock import to_local, to_utc
from services.common.errors import FieldError, Unprocessable
from services.common.geo import CoordSystem, in_china_box
from services.common.periods import FIRST_YEAR, LAST_YEAR


def _show(value: datetime) -> str:
    return to_local(value).isoformat()


def _sent(value: datetime) -> datetime:
    """A time a caller sends, in UTC, if its year is one the platform holds records for:
    year 1 or 9999 (a broken clock, a typed year) overflowed on its way to UTC, and a year
    before 1901 came back in Shanghai's old local mean time (+08:05:43)."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise PydanticCustomError(
            "time_out_of_range",
            "the year is outside {first}–{last}",
            {"first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return to_utc(value)


# Stored in UTC; on the wire RFC 3339 in the deployment's zone (Asia/Shanghai by default).
# A time sent without an offset is a time in that zone. ``Timestamp`` is for answers: what
# is kept is shown, whatever its year (an earlier release took years the bound now refuses);
# ``SentTimestamp`` for what callers send.
Timestamp = Annotated[datetime, AfterValidator(to_utc), PlainSerializer(_show, return_type=str)]
SentTimestamp = Annotated[datetime, AfterValidator(_sent), PlainSerializer(_show, return_type=str)]


def _not_null(value):
    if value is None:
        raise PydanticCustomError("null_not_allowed", "may be left out, not set to null")
    return value


# For a partial update (PATCH): the field may be left out, but null would empty a field that
# cannot be empty. Use as ``name: Annotated[str | None, NOT_NULL] = Field(default=None, ...)``.
NOT_NULL = BeforeValidator(_not_null)


class WireModel(BaseModel):
    """Input models refuse fields they do not know, so a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WithPoint(WireModel):
    """An input that may carry a place as optional ``lat`` and ``lng``: both or neither
    (half of one was dropped without a word, and an activity lost its geofence). A patch
    is not one: there a single coordinate changes and the other stays."""

    @model_validator(mode="after")
    def _whole_point(self):
        if (self.lat is None) != (self.lng is None):
            missing = "lat" if self.lat is None else "lng"
            raise Unprocessable("validation.missing", errors=[FieldError(missing, "missing")])
        return self


class PointIn(WireModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"

    @model_validator(mode="after")
    def _inside_china(self) -> PointIn:
        if not in_china_box(self.lat, self.lng):
            raise PydanticCustomError("outside_china", "the point is outside China")
        return self
