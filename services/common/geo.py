"""Coordinates in and out. Phones and Chinese maps speak GCJ-02 (Tencent, AMap,
``wx.getLocation({type: 'gcj02'})``); we store WGS-84 and answer in WGS-84 unless the
caller asks for GCJ-02. The conversion is prcoords' (the precise, iterative inverse)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import prcoords
from fastapi import Query

from services.common.errors import FieldError, Unprocessable

CoordSystem = Literal["wgs84", "gcj02"]

# Mainland China's bounding box, with a margin; a point outside is a typo or a swapped pair.
CHINA_LAT = (3.5, 54.0)
CHINA_LNG = (73.0, 136.0)


def in_china_box(lat: float, lng: float) -> bool:
    return CHINA_LAT[0] <= lat <= CHINA_LAT[1] and CHINA_LNG[0] <= lng <= CHINA_LNG[1]


def to_wgs84(lat: float, lng: float, system: CoordSystem) -> tuple[float, float]:
    if system == "wgs84":
        return lat, lng
    point = prcoords.gcj_wgs_bored(prcoords.Coords(lat, lng))
    return point.lat, point.lon


def from_wgs84(lat: float, lng: float, system: CoordSystem) -> tuple[float, float]:
    if system == "wgs84":
        return lat, lng
    point = prcoords.wgs_gcj(prcoords.Coords(lat, lng))
    return point.lat, point.lon


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine): plenty for geofences of tens of metres."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180


def nearness(lat_column, lng_column, lat: float, lng: float):
    """A SQL expression that orders rows by distance from a WGS-84 point: the squared
    distance in degrees of latitude on a plane tangent at the point (plain arithmetic, the
    same on SQLite and PostgreSQL; within tens of kilometres its order is the sphere's)."""
    shrink = math.cos(math.radians(lat))
    dlat = lat_column - lat
    dlng = (lng_column - lng) * shrink
    return dlat * dlat + dlng * dlng


def nearness_bound(radius_m: float) -> float:
    """The ``nearness`` of a point ``radius_m`` away."""
    return (radius_m / METRES_PER_DEGREE) ** 2


def box_around(lat: float, lng: float, radius_m: float) -> tuple[float, float, float, float]:
    """(south, north, west, east) of a box holding the circle: what an index can use."""
    dlat = radius_m / METRES_PER_DEGREE
    dlng = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return lat - dlat, lat + dlat, lng - dlng, lng + dlng


@dataclass(frozen=True)
class Near:
    """ "Around here": a point as the caller gave it, and how far to look."""

    lat: float
    lng: float
    radius_m: float
    coord_system: CoordSystem = "wgs84"

    def wgs84(self) -> tuple[float, float]:
        return to_wgs84(self.lat, self.lng, self.coord_system)

    def distance_to(self, lat: float | None, lng: float | None) -> float | None:
        """Metres from here to a stored WGS-84 point, to the metre."""
        if lat is None or lng is None:
            return None
        return round(distance_m(*self.wgs84(), lat, lng))


def near_query(
    lat: Annotated[float | None, Query(ge=-90, le=90, description="look around this point")] = None,
    lng: Annotated[float | None, Query(ge=-180, le=180)] = None,
    radius: Annotated[
        float, Query(gt=0, le=50_000, description="metres around lat, lng (default 3 km)")
    ] = 3_000,
    coord_system: Annotated[
        CoordSystem,
        Query(description="the system of lat, lng and of every coordinate in the answer"),
    ] = "wgs84",
) -> Near | None:
    """The ``lat``, ``lng``, ``radius`` of a "near me" search: both coordinates or neither."""
    if lat is None and lng is None:
        return None
    if lat is None or lng is None:
        missing = "lat" if lat is None else "lng"
        raise Unprocessable("request.invalid", errors=[FieldError(missing, "missing")])
    if not in_china_box(lat, lng):
        raise Unprocessable("validation.outside_china", errors=[FieldError("lat", "outside_china")])
    return Near(lat=lat, lng=lng, radius_m=radius, coord_system=coord_system)


# --- answers: the one place that writes a coordinate or a GeoJSON geometry in an answer -------

AnswerCoords = Annotated[
    CoordSystem,
    Query(
        alias="coord_system",
        description="wgs84 (default) or gcj02: the system of every coordinate in the answer",
    ),
]


def point_out(
    lat: float | None, lng: float | None, system: CoordSystem
) -> tuple[float | None, float | None]:
    """A stored WGS-84 point as the caller asked to read it (None stays None)."""
    if lat is None or lng is None:
        return lat, lng
    return from_wgs84(lat, lng, system)


def geojson_out(geometry: dict | None, system: CoordSystem) -> dict | None:
    """A stored WGS-84 GeoJSON geometry (any type, positions ``[lng, lat]``) in the caller's
    system; the input is not changed."""
    if geometry is None or system == "wgs84":
        return geometry

    def convert(node):
        if node and isinstance(node[0], int | float):
            lat, lng = from_wgs84(node[1], node[0], system)
            return [lng, lat, *node[2:]]
        return [convert(child) for child in node]

    if geometry.get("type") == "GeometryCollection":
        parts = [geojson_out(g, system) for g in geometry.get("geometries", [])]
        return {**geometry, "geometries": parts}
    return {**geometry, "coordinates": convert(geometry["coordinates"])}
