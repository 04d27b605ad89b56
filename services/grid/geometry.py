"""Cell geometry: validating boundaries and finding the cell that contains a point.

Boundaries are GeoJSON Polygons or MultiPolygons in WGS-84 (shapely does the geometry). The
index is an STRtree over the live cells, rebuilt when cells change. A point on an edge
shared by two cells belongs to the cell with the smaller code: a rule any phone can
reproduce, and the same answer every time."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import shapely
from shapely import STRtree
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.ops import nearest_points
from shapely.validation import explain_validity

from services.common.geo import CoordSystem, in_china_box, to_wgs84
from services.common.geo import distance_m as great_circle

M_PER_DEG_LAT = 111_320.0


class GeometryProblem(ValueError):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def parse_boundary(geojson: dict, system: CoordSystem) -> Polygon | MultiPolygon:
    """A valid polygon in WGS-84 from GeoJSON in ``system``."""
    kind = geojson.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise GeometryProblem("boundary_type")
    if not _rings_closed(kind, geojson.get("coordinates")):
        raise GeometryProblem("boundary_ring_unclosed")
    try:
        geometry = shape(geojson)
    except Exception:
        raise GeometryProblem("boundary_malformed") from None
    if geometry.is_empty:
        raise GeometryProblem("boundary_malformed")
    for x, y in shapely.get_coordinates(geometry):
        if not in_china_box(y, x):
            raise GeometryProblem("outside_china")
    if system != "wgs84":
        geometry = shapely.transform(geometry, _converter(system), interleaved=False)
    if not geometry.is_valid:
        raise GeometryProblem("boundary_invalid", explain_validity(geometry))
    return geometry


def _rings_closed(kind: str, coordinates) -> bool:
    """GeoJSON (RFC 7946 3.1.6): a ring has four or more positions and ends where it began.
    shapely would close an open ring silently, drawing an edge the user never drew."""
    try:
        polygons = [coordinates] if kind == "Polygon" else list(coordinates)
        rings = [ring for polygon in polygons for ring in polygon]
        return bool(rings) and all(
            len(ring) >= 4 and list(ring[0]) == list(ring[-1]) for ring in rings
        )
    except (TypeError, IndexError):
        return False


def _converter(system: CoordSystem):
    def convert(xs, ys):
        pairs = [to_wgs84(y, x, system) for x, y in zip(xs, ys, strict=True)]
        return [p[1] for p in pairs], [p[0] for p in pairs]

    return convert


def area_m2(geometry) -> float:
    """Approximate area in m² (equirectangular at the shape's latitude): plenty for a
    tolerance on overlaps of a few square metres."""
    lat = geometry.centroid.y
    return geometry.area * M_PER_DEG_LAT * M_PER_DEG_LAT * math.cos(math.radians(lat))


def distance_m(geometry, lat: float, lng: float) -> float:
    """Metres from a point to the geometry (0 inside)."""
    point = Point(lng, lat)
    if geometry.covers(point):
        return 0.0
    nearest = nearest_points(geometry, point)[0]
    return great_circle(lat, lng, nearest.y, nearest.x)


@dataclass
class CellIndex:
    codes: list[str]
    geometries: list
    tree: STRtree | None

    @classmethod
    def build(cls, cells: Iterable[tuple[str, object]]) -> CellIndex:
        items = sorted(cells, key=lambda c: c[0])
        codes = [c for c, _ in items]
        geometries = [g for _, g in items]
        for g in geometries:
            shapely.prepare(g)
        return cls(codes, geometries, STRtree(geometries) if geometries else None)

    def locate(self, lat: float, lng: float) -> str | None:
        if self.tree is None:
            return None
        point = Point(lng, lat)
        hits = self.tree.query(point, predicate="intersects")
        if len(hits) == 0:
            return None
        # Indexes follow the sorted codes: the smallest index is the smallest code.
        return self.codes[int(min(hits))]

    def geometry(self, code: str):
        try:
            return self.geometries[self.codes.index(code)]
        except ValueError:
            return None
