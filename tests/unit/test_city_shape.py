"""The synthetic city the city benchmark loads (bench/city_data.py) is shaped like seed 002's:
its counts, codes the registry's own rules read as it means them, people whose personal
data is sealed as the registry seals it, cases the workflow could have produced — and the
growth between two sizes is worked out from the measurements alone."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from bench import city_data
from bench.city import growth
from services.common.clock import local_zone
from services.common.pii import PiiCipher
from services.common.settings import Settings
from services.common.validators import parse_id_number
from services.grid.calendar import WorkCalendar
from services.grid.workflow import OPEN_STATUSES, STEP_OF_STATUS
from services.registry import rules


def test_the_whole_city_has_seed_002s_communities_villages_and_cells():
    plan = city_data.plan(1.0)
    kinds = Counter(rules.area_kind(c.code) for c in plan.communities)
    assert kinds == {"community": 1087, "village": 2074}
    assert len(plan.streets) == 100
    assert len(plan.cells) == 5856
    assert sum(c.residents for c in plan.communities) == 3_000_000
    assert len({c.code for c in plan.communities}) == 3161


def test_every_code_sits_under_its_parent_and_every_cell_extends_its_community():
    plan = city_data.plan(0.1)
    streets = {code for code, _ in plan.streets}
    districts = {code for code, _ in plan.districts}
    assert {rules.parent_code(s) for s in streets} <= districts
    for c in plan.communities:
        assert rules.area_level(c.code) == "community"
        assert rules.parent_code(c.code) in streets
        assert c.cells, f"{c.code} has no cell"
        assert all(cell.code[:12] == c.code and len(cell.code) == 15 for cell in c.cells)
        assert sum(cell.residents for cell in c.cells) == c.residents


def test_a_tenth_of_the_city_is_a_tenth_of_every_count():
    counts = city_data.plan(0.1).counts
    assert counts == {k: round(v / 10) for k, v in city_data.FULL.items()}


def test_id_numbers_are_valid_unique_and_say_the_gender_and_birth_date():
    numbers = city_data.IdNumbers(["410105"])
    born = date(1980, 5, 17)
    made = [numbers.make("410105", born, male) for male in (True, False) * 50]
    assert len(set(made)) == 100
    for number, male in zip(made, (True, False) * 50, strict=True):
        citizen = parse_id_number(number)
        assert citizen.birth_date == born
        assert citizen.gender == ("male" if male else "female")


def test_a_spread_hands_out_exactly_its_total():
    spread = city_data.Spread(1000, 7.0)
    given = 0
    for _ in range(7):
        n = spread.take(1.0)
        spread.gave(n)
        given += n
    assert given == 1000


class MemorySink(city_data.Sink):
    """Every row kept in memory, by table, as the COPY would have written them."""

    def __init__(self) -> None:
        super().__init__(self.keep, batch=10**9)
        self.rows: dict[str, list[dict]] = {}

    def keep(self, batch, columns) -> None:
        for table, rows in batch.items():
            self.rows.setdefault(table, []).extend(
                dict(zip(columns[table], r, strict=True)) for r in rows
            )


@pytest.fixture(scope="module")
def small_city():
    plan = city_data.plan(0.002)
    settings = Settings(env="test")
    cipher = PiiCipher(settings.pii_key, settings.pii_index_key)
    loader = city_data.CityLoader(plan, cipher, password_hash="x")
    sink = MemorySink()
    for c, v in zip(plan.communities, [60] * len(plan.communities), strict=True):
        loader.volunteer_targets[c.code] = v
    categories = [
        city_data.SimpleNamespace(
            code="01.01", name="暴露垃圾", priority="normal", deadline_unit="hours",
            accept_within=2, dispatch_within=1, handle_within=8, verify_within=4, close_within=2,
        )
    ]  # fmt: skip
    loader.everything(sink, categories)
    return plan, cipher, sink.rows, loader.now


def test_each_cell_holds_the_residents_planned_for_it(small_city):
    plan, _, rows, _ = small_city
    building_cell = {b["id"]: b["cell_code"] for b in rows["registry.buildings"]}
    current = Counter(
        building_cell[r["building_id"]]
        for r in rows["registry.residents"]
        if r["status"] == "current"
    )
    assert current == {cell.code: cell.residents for cell in plan.cells}


def test_personal_data_is_sealed_as_the_registry_seals_it(small_city):
    _, cipher, rows, _ = small_city
    resident = rows["registry.residents"][0]
    number = cipher.decrypt(resident["id_number_enc"], "id_number")
    assert cipher.blind_index(number, "id_number") == resident["id_number_index"]
    assert resident["id_number_masked"] == number[:6] + "********" + number[-4:]
    volunteer = rows["volunteer.volunteers"][0]
    assert cipher.decrypt(volunteer["id_number_enc"], "id_number") != volunteer["id_number_enc"]
    # A volunteer is a resident: the same person, by the same blind index.
    indexes = {r["id"]: r["id_number_index"] for r in rows["registry.residents"]}
    for v in rows["volunteer.volunteers"]:
        assert v["id_number_index"] == indexes[v["resident_id"]]


def test_every_case_is_where_the_workflow_could_have_left_it(small_city):
    _, _, rows, now = small_city
    cases = rows["grid.cases"]
    assert cases
    calendar = WorkCalendar(zone=local_zone())
    for case in cases:
        # A deadline already passed was reminded of then: no backlog for the sweep.
        passed = case["deadline_at"] is not None and case["deadline_at"] <= now
        assert case["overdue_told_for"] == (case["deadline_at"] if passed else None)
        assert case["step"] == STEP_OF_STATUS.get(case["status"])
        assert (case["deadline_at"] is not None) == (case["status"] in OPEN_STATUSES)
        if case["status"] == "closed":
            assert case["closed_on_time"] == (case["handled_at"] <= case["handle_deadline_at"])
        # Handling time kept as the workflow keeps it: working hours, dispatch to handling.
        if case["dispatched_at"] and case["handled_at"]:
            assert case["handling_hours"] == calendar.working_hours_between(
                case["dispatched_at"], case["handled_at"]
            )
        else:
            assert case["handling_hours"] is None
    events = Counter(e["case_id"] for e in rows["grid.case_events"])
    assert all(events[c["id"]] >= 1 for c in cases)


def test_growth_is_worked_out_from_two_measured_sizes():
    def stage(scale, ms, kb):
        return {
            "stage": "city",
            "scale": scale,
            "scores": {"cold_ms": ms},
            "full_sync": {"gzip_kb": kb},
        }

    out = growth([stage(1.0, 1100.0, 30.0), stage(0.1, 200.0, 30.0)])
    assert out["scores_cold_ms"]["factor"] == 5.5
    # 200 ms at a tenth, 1,100 at the city: 100 ms for every tenth, so 20 cities 20,100 ms.
    assert out["scores_cold_ms"]["province_linear"] == 20100.0
    assert out["full_sync_gzip_kb"]["exponent"] == 0.0
    # A figure that came out smaller at the larger size did not grow with it.
    noisy = growth([stage(1.0, 1100.0, 20.0), stage(0.1, 200.0, 30.0)])
    assert noisy["full_sync_gzip_kb"]["province_linear"] == 20.0
    assert growth([stage(1.0, 1.0, 1.0)]) == {}
