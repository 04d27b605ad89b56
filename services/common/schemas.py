"""Wire types every service uses: timestamps shown in the deployment's zone with their
offset, and coordinates that say which system they are in."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, model_validator
from pydantic_core import PydanticCustomError

from services.common.clock import as_utc
from services.common.geo import CoordSystem, in_china_box
from services.common.settings import get_settings


@lru_cache
def display_zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _show(value: datetime) -> str:
    return as_utc(value).astimezone(display_zone()).isoformat()


# Stored in UTC; on the wire RFC 3339 in the deployment's zone (Asia/Shanghai by default).
Timestamp = Annotated[datetime, AfterValidator(as_utc), PlainSerializer(_show, return_type=str)]


class WireModel(BaseModel):
    """Input models refuse fields they do not know, so a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PointIn(WireModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"

    @model_validator(mode="after")
    def _inside_china(self) -> PointIn:
        if not in_china_box(self.lat, self.lng):
            raise PydanticCustomError("outside_china", "the point is outside China")
        return self
