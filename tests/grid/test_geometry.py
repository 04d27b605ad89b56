"""The locate index answers what a bare STRtree over the same cells answers, for one point
or many, on edges and corners too, and with changed cells laid over it."""

from __future__ import annotations

import numpy as np
import shapely
from shapely import STRtree
from shapely.affinity import translate

from services.common.clients.registry import BuildingRef
from services.grid.geometry import CellIndex, CellShape
from services.grid.service.cells import placements

AREA = shapely.box(113.30, 34.50, 113.40, 34.60)


def _city(n: int = 400, seed: int = 7) -> list[CellShape]:
    """Irregular cells that tile a patch (a Voronoi diagram), with a few left out as holes."""
    rng = np.random.default_rng(seed)
    seeds = shapely.multipoints(np.c_[113.30 + rng.random(n) * 0.1, 34.50 + rng.random(n) * 0.1])
    parts = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=AREA))
    cells = []
    for i, part in enumerate(parts):
        if i % 9 == 4:
            continue
        geometry = shapely.intersection(part, AREA)
        shapely.prepare(geometry)
        cells.append(CellShape(f"C{i:04d}", f"网格{i}", "410105001001", geometry))
    return cells


def _bare(cells: list[CellShape]):
    """The rule as a bare STRtree states it: the smallest code whose cell meets the point."""
    ordered = sorted(cells, key=lambda c: c.code)
    tree = STRtree([c.geometry for c in ordered])

    def locate(lat: float, lng: float) -> str | None:
        hits = tree.query(shapely.Point(lng, lat), predicate="intersects")
        return ordered[int(min(hits))].code if len(hits) else None

    return locate


def _points(cells: list[CellShape]) -> list[tuple[float, float]]:
    rng = np.random.default_rng(11)
    # Around the patch and beyond its sides, then on the cells' corners and edges.
    points = [(34.49 + a * 0.12, 113.29 + b * 0.12) for a, b in rng.random((3000, 2))]
    for cell in cells[:150]:
        for x, y in shapely.get_coordinates(cell.geometry)[:4]:
            points.append((y, x))
        edge = cell.geometry.exterior.interpolate(0.37, normalized=True)
        points.append((edge.y, edge.x))
    return points


def test_one_point_or_many_the_index_answers_as_a_bare_strtree():
    cells = _city()
    index, bare = CellIndex.build(cells), _bare(cells)
    points = _points(cells)
    expected = [bare(lat, lng) for lat, lng in points]
    assert [index.locate(lat, lng) for lat, lng in points] == expected
    assert index.locate_many([p[0] for p in points], [p[1] for p in points]) == expected
    assert any(e is None for e in expected) and len({e for e in expected}) > 300


def test_changed_cells_laid_over_answer_as_the_cells_now_are():
    cells = _city()
    by_code = {c.code: c for c in cells}
    codes = sorted(by_code)
    moved = translate(by_code[codes[3]].geometry, 0.002, 0.001)
    drawn = shapely.box(113.395, 34.595, 113.41, 34.61)  # over a corner and off the patch
    for geometry in (moved, drawn):
        shapely.prepare(geometry)
    changes = {
        codes[0]: None,
        codes[3]: CellShape(codes[3], "移过", "410105001001", moved),
        "C0000A": CellShape("C0000A", "新画", "410105001001", drawn),
    }
    index = CellIndex.build(cells).with_changes(changes)
    now = [c for c in by_code.values() if c.code not in changes] + [
        c for c in changes.values() if c is not None
    ]
    bare = _bare(now)
    points = _points(cells) + [(34.5955, 113.3955), (34.605, 113.405)]
    expected = [bare(lat, lng) for lat, lng in points]
    assert [index.locate(lat, lng) for lat, lng in points] == expected
    assert index.locate_many([p[0] for p in points], [p[1] for p in points]) == expected
    compacted = index.compacted()
    assert not compacted.changed and compacted.cell(codes[0]) is None
    assert [compacted.locate(lat, lng) for lat, lng in points] == expected


def test_buildings_are_placed_in_bulk_only_where_their_cell_changes():
    cells = _city()
    index = CellIndex.build(cells)
    inside = cells[10].geometry.representative_point()
    other = cells[20].geometry.representative_point()

    def building(i: str, lat, lng, cell_code):
        return BuildingRef(
            id=i, community_code="410105001001", lat=lat, lng=lng, cell_code=cell_code
        )

    buildings = [
        building("right", inside.y, inside.x, cells[10].code),  # already right: left alone
        building("wrong", other.y, other.x, cells[10].code),
        building("new", inside.y, inside.x, None),
        building("off-map", 34.70, 113.50, cells[10].code),  # no cell there any more
        building("unplaced", None, None, cells[10].code),  # no point: no cell
        building("never", None, None, None),
    ]
    moves = {a.building_id: a.cell_code for a in placements(index, buildings)}
    assert moves == {
        "wrong": cells[20].code,
        "new": cells[10].code,
        "off-map": None,
        "unplaced": None,
    }
    assert placements(index, []) == []
