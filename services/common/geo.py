"""Coordinates in and out. Phones and Chinese maps speak GCJ-02 (Tencent, AMap,
``wx.getLocation({type: 'gcj02'})``); we store WGS-84 and answer in WGS-84 unless the
caller asks for GCJ-02. The conversion is prcoords' (the precise, iterative inverse)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import prcoords
from fastapi import Query

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
