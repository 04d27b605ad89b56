"""Cell geometry: validating boundaries and finding the cell that contains a point.

Boundaries are GeoJSON Polygons or MultiPolygons in WGS-84 (shapely does the geometry). The
index is an STRtree over the live cells, with a raster of buckets in front of it for one
point at a time, and the cells changed since it was built laid over it until it is built
again. A point on an edge shared by two cells belongs to the cell with the smaller code: a
rule any phone can reproduce, and the same answer every time."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
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


# Shapely's constructors (points, boxes, GeoJSON) hold the GIL for a whole array: in slices
# of about a millisecond's work, a worker thread lets the event loop in between.
POINTS_SLICE = 2048
GEOJSON_SLICE = 128


def _slices(n: int, size: int) -> Iterator[slice]:
    return (slice(lo, min(n, lo + size)) for lo in range(0, n, size))


@dataclass(frozen=True, eq=False)
class CellShape:
    """What the index keeps of one live cell. ``version`` is the row's ``updated_at``: a row
    whose version differs was changed by another process."""

    code: str
    name: str
    community_code: str
    geometry: Polygon | MultiPolygon
    version: datetime | None = None

    @classmethod
    def of(
        cls, code: str, name: str, community_code: str, boundary: dict, version=None
    ) -> CellShape:
        geometry = shape(boundary)
        shapely.prepare(geometry)  # every point test after this is against the prepared form
        return cls(code, name, community_code, geometry, version)

    @classmethod
    def many(cls, rows: Sequence[tuple[str, str, str, str, datetime | None]]) -> list[CellShape]:
        """Cells from rows of (code, name, community, GeoJSON text, version), every boundary
        parsed and prepared in one vectorised call each. Run in a worker thread: one call
        per cell would hand the GIL back and wait for it thousands of times, each wait as
        long as the busy event loop keeps it (a rebuild of minutes under load)."""
        texts = [r[3] for r in rows]
        geometries = np.empty(len(texts), dtype=object)
        for part in _slices(len(texts), GEOJSON_SLICE):
            geometries[part] = shapely.from_geojson(texts[part])
        shapely.prepare(geometries)
        return [
            cls(code, name, community, geometry, version)
            for (code, name, community, _, version), geometry in zip(rows, geometries, strict=True)
        ]


# Buckets across the typical cell's shorter side. Four leave about half of a city's area in
# buckets that one cell covers whole (answered without a point test); eight raise that to
# three quarters but take four times the buckets and the time to classify them.
BUCKETS_PER_CELL = 4
MAX_BUCKETS = 4_000_000  # 16 MB of int32: a map of cells far apart gets coarser buckets


class _Raster:
    """A fixed grid of buckets over the cells' extent, for one point at a time: a bucket
    that meets one cell only, which covers it, names that cell; a bucket on an edge lists
    the cells it meets, in code order, for an exact test. STRtree.query spends about 10 µs
    on its arguments per call, about what this takes for a whole lookup on an edge."""

    NONE = -1  # a bucket that meets no cell

    def __init__(self, geometries: np.ndarray, tree: STRtree, step: float, bounds) -> None:
        x0, y0, x1, y1 = bounds
        # Half a bucket off: the edges of cells drawn on round coordinates fall inside a
        # bucket instead of on the side shared by two.
        self.x0, self.y0 = x0 - step / 2, y0 - step / 2
        self.cols = int((x1 - self.x0) / step) + 1
        self.rows = int((y1 - self.y0) / step) + 1
        self.inv = 1.0 / step
        self.geometries = list(geometries)
        cols, rows = np.meshgrid(np.arange(self.cols), np.arange(self.rows))
        xs, ys = self.x0 + cols.ravel() * step, self.y0 + rows.ravel() * step
        # Each box a hair larger than its bucket: a point whose bucket is computed with a
        # rounding error still lies inside the box it was classified by.
        eps = step * 1e-6
        parts = []
        for part in _slices(len(xs), POINTS_SLICE):
            x, y = xs[part], ys[part]
            boxes = shapely.box(x - eps, y - eps, x + step + eps, y + step + eps)
            box_of, cell_of = tree.query(boxes, predicate="intersects")
            order = np.lexsort((cell_of, box_of))  # per bucket, cells in code order
            box_of, cell_of = box_of[order], cell_of[order]
            alone = np.flatnonzero(np.bincount(box_of, minlength=len(boxes))[box_of] == 1)
            whole = np.zeros(len(box_of), dtype=bool)
            whole[alone] = shapely.covers(geometries[cell_of[alone]], boxes[box_of[alone]])
            parts.append((box_of + part.start, cell_of, whole))
        box_of, cell_of, whole = (np.concatenate(p) for p in zip(*parts, strict=True))
        buckets = np.full(len(xs), self.NONE, dtype=np.int32)
        buckets[box_of[whole]] = cell_of[whole]
        # The rest that meet a cell are edge buckets: -2 - k points at the k-th list.
        edge = ~whole
        edge_boxes, starts = np.unique(box_of[edge], return_index=True)
        buckets[edge_boxes] = -2 - np.arange(len(edge_boxes), dtype=np.int32)
        self.bucket_array = buckets  # for many points at once, in numpy
        self.buckets = memoryview(buckets)  # for one: indexing yields plain ints, fast
        self.candidates = memoryview(cell_of[edge].astype(np.int32))
        self.starts = memoryview(np.append(starts, edge.sum()).astype(np.int32))

    @classmethod
    def over(cls, geometries: np.ndarray, tree: STRtree) -> _Raster | None:
        bounds = shapely.bounds(geometries)
        sides = np.minimum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
        step = float(np.median(sides)) / BUCKETS_PER_CELL
        if not step > 0:
            return None
        extent = (bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max())
        while ((extent[2] - extent[0]) / step + 2) * ((extent[3] - extent[1]) / step + 2) > (
            MAX_BUCKETS
        ):
            step *= 2
        return cls(geometries, tree, step, extent)

    def _bucket(self, x: float, y: float) -> int | None:
        col, row = (x - self.x0) * self.inv, (y - self.y0) * self.inv
        if not (0 <= col < self.cols and 0 <= row < self.rows):  # also NaN
            return None
        return self.buckets[int(row) * self.cols + int(col)]

    def first(self, x: float, y: float) -> int | None:
        """The smallest cell index whose cell holds the point."""
        bucket = self._bucket(x, y)
        if bucket is None or bucket == self.NONE:
            return None
        if bucket >= 0:
            return bucket
        k = -2 - bucket
        for i in range(self.starts[k], self.starts[k + 1]):
            cell = self.candidates[i]
            if shapely.intersects_xy(self.geometries[cell], x, y):
                return cell
        return None

    def buckets_of(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Each point's bucket value, as ``first`` reads it (NONE outside the grid)."""
        cols, rows = (xs - self.x0) * self.inv, (ys - self.y0) * self.inv
        inside = (cols >= 0) & (cols < self.cols) & (rows >= 0) & (rows < self.rows)
        found = np.full(len(xs), self.NONE, dtype=np.int32)
        flat = rows[inside].astype(np.intp) * self.cols + cols[inside].astype(np.intp)
        found[inside] = self.bucket_array[flat]
        return found

    def hits(self, x: float, y: float) -> list[int]:
        """Every cell index whose cell holds the point, in code order."""
        bucket = self._bucket(x, y)
        if bucket is None or bucket == self.NONE:
            return []
        if bucket >= 0:
            return [bucket]
        k = -2 - bucket
        cells = self.candidates[self.starts[k] : self.starts[k + 1]]
        return [c for c in cells if shapely.intersects_xy(self.geometries[c], x, y)]


class _Layer:
    """Cells in code order and an STRtree over them: an index into the layer is an index
    into the codes, so the smallest index that holds a point is the smallest code."""

    def __init__(self, cells: Iterable[CellShape], *, raster: bool) -> None:
        self.cells = sorted(cells, key=lambda c: c.code)
        self.codes = [c.code for c in self.cells]
        self.geometries = np.array([c.geometry for c in self.cells], dtype=object)
        self.tree = STRtree(self.geometries) if self.cells else None
        self.raster = _Raster.over(self.geometries, self.tree) if raster and self.cells else None
        self.extent = shapely.total_bounds(self.geometries) if self.cells else None
        # Codes by index, with None after the last: index -1 (no cell) reads None.
        self.code_of = np.array([*self.codes, None], dtype=object)

    def first(self, lng: float, lat: float) -> int | None:
        if self.raster is not None:
            return self.raster.first(lng, lat)
        hits = self.hits(lng, lat)
        return hits[0] if hits else None

    def hits(self, lng: float, lat: float) -> list[int]:
        if self.raster is not None:
            return self.raster.hits(lng, lat)
        if self.tree is None:
            return []
        return sorted(int(i) for i in self.tree.query(Point(lng, lat), predicate="intersects"))

    def first_many(
        self, xs: np.ndarray, ys: np.ndarray, skip: np.ndarray | None = None
    ) -> np.ndarray:
        """For each point the smallest index of a cell that holds it, -1 for none; cells
        whose index is marked in ``skip`` are left out. A point in a bucket that one cell
        covers is answered by the raster; the rest, in one vectorised STRtree query."""
        best = np.full(len(xs), -1, dtype=np.intp)
        if self.tree is None or not len(xs):
            return best
        if self.raster is None:
            asked = np.flatnonzero(
                (xs >= self.extent[0])
                & (xs <= self.extent[2])
                & (ys >= self.extent[1])
                & (ys <= self.extent[3])
            )
        else:
            buckets = self.raster.buckets_of(xs, ys)
            whole = np.flatnonzero(buckets >= 0)
            best[whole] = buckets[whole]
            if skip is not None:
                # The bucket's one cell changed: no other cell of this layer is there.
                best[whole[skip[buckets[whole]]]] = -1
            asked = np.flatnonzero(buckets <= -2)
        first = np.full(len(asked), len(self.cells), dtype=np.intp)
        for part in _slices(len(asked), POINTS_SLICE):
            points = shapely.points(xs[asked[part]], ys[asked[part]])
            point_of, cell_of = self.tree.query(points, predicate="intersects")
            if skip is not None:
                keep = ~skip[cell_of]
                point_of, cell_of = point_of[keep], cell_of[keep]
            np.minimum.at(first, point_of + part.start, cell_of)
        first[first == len(self.cells)] = -1
        best[asked] = first
        return best


class CellIndex:
    """The live cells at one moment. Never changed in place: a change makes a new index
    that shares the built layer and lays the changed cells over it, so a reader keeps the
    one it holds while a newer one is made, and building afresh (``compacted``) can run in
    another thread."""

    def __init__(
        self, base: _Layer, cells: dict[str, CellShape], changed: frozenset[str] = frozenset()
    ) -> None:
        self.base = base
        self.cells = cells
        self.changed = changed  # codes whose cell in ``base`` is no longer the live one
        self.overlay: _Layer | None = None
        self._skip: np.ndarray | None = None
        if changed:
            self.overlay = _Layer((cells[c] for c in changed if c in cells), raster=False)
            self._skip = np.array([c in changed for c in base.codes], dtype=bool)

    @classmethod
    def build(cls, cells: Iterable[CellShape]) -> CellIndex:
        base = _Layer(cells, raster=True)
        return cls(base, {c.code: c for c in base.cells})

    def with_changes(self, changes: Mapping[str, CellShape | None]) -> CellIndex:
        """This index with cells replaced, added, or (None) gone."""
        if not changes:
            return self
        cells = dict(self.cells)
        for code, cell in changes.items():
            if cell is None:
                cells.pop(code, None)
            else:
                cells[code] = cell
        return CellIndex(self.base, cells, self.changed | frozenset(changes))

    def compacted(self) -> CellIndex:
        """The same cells in one layer built afresh (CPU only: fit for a worker thread)."""
        return CellIndex.build(self.cells.values()) if self.changed else self

    def changes_since(self, earlier: CellIndex) -> dict[str, CellShape | None]:
        """The changes made to ``earlier`` to reach this index (an index built from
        ``earlier`` takes them again with ``with_changes``)."""
        return {
            code: self.cells.get(code)
            for code in self.changed
            if self.cells.get(code) is not earlier.cells.get(code)
        }

    def locate(self, lat: float, lng: float) -> str | None:
        if self.overlay is None:
            found = self.base.first(lng, lat)
            return None if found is None else self.base.codes[found]
        codes = [self.base.codes[i] for i in self.base.hits(lng, lat)]
        codes = [c for c in codes if c not in self.changed]
        codes += [self.overlay.codes[i] for i in self.overlay.hits(lng, lat)]
        return min(codes, default=None)

    def locate_many(
        self, lats: Sequence[float | None], lngs: Sequence[float | None]
    ) -> list[str | None]:
        """``locate`` for many points at once (None where a coordinate is missing)."""
        xs = np.array(lngs, dtype=float)  # None reads NaN, which no bucket or cell holds
        ys = np.array(lats, dtype=float)
        found = self.base.code_of[self.base.first_many(xs, ys, self._skip)]
        if self.overlay is None:
            return found.tolist()
        over = self.overlay.code_of[self.overlay.first_many(xs, ys)]
        return [
            a if b is None else b if a is None else min(a, b)
            for a, b in zip(found.tolist(), over.tolist(), strict=True)
        ]

    def cell(self, code: str) -> CellShape | None:
        return self.cells.get(code)

    def geometry(self, code: str):
        cell = self.cells.get(code)
        return None if cell is None else cell.geometry
