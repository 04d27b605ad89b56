"""The diff a change history keeps: only what changed, personal data compared in full and
kept masked, values as JSON keeps them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.common.history import diff
from services.common.pii import mask_phone


def test_two_phones_with_one_mask_are_a_change_kept_masked():
    before = {"phone": "13812345678", "name": "黄博然"}
    after = {"phone": "13899995678", "name": "黄博然"}
    assert diff(before, after, {"phone": mask_phone}) == [
        {"field": "phone", "old": "138****5678", "new": "138****5678"}
    ]


def test_a_record_created_lists_what_it_was_given_and_nothing_unchanged_is_listed():
    after = {"moved_in_on": date(2026, 3, 1), "area_m2": Decimal("120.50"), "floors": None}
    assert diff(None, after) == [
        {"field": "moved_in_on", "old": None, "new": "2026-03-01"},
        {"field": "area_m2", "old": None, "new": "120.50"},
    ]
    assert diff(after, dict(after)) == []
    assert diff({"staff": Decimal("7.00")}, {"staff": Decimal("7")}) == []


def test_every_field_a_service_records_reads_by_a_chinese_name():
    """A history a community worker opens names each field, not its code: every field each
    service's snapshots compare has a label in that service's ``LABELS``."""
    from services.assessment.service import history as assessment
    from services.grid.service import history as grid
    from services.registry.service import history as registry
    from services.volunteer.service import history as volunteer

    unnamed = [
        (module.__name__, kind, name)
        for module in (registry, grid, volunteer, assessment)
        for kind, names in module.FIELDS.items()
        for name in names
        if module.LABELS.field_name(kind, name) == name
    ]
    assert unnamed == []


def test_an_enumerated_value_is_named_and_a_free_one_is_not():
    from services.common.history import HistoryLabels

    labels = HistoryLabels(
        fields={"status": "状态", "resident.name": "姓名"},
        values={"tags": {"elderly": "老年人"}, "case.status": {"closed": "已结案"}},
    )
    assert labels.field_name("resident", "name") == "姓名"
    assert labels.field_name("unit", "name") == "name"
    assert labels.value_name("case", "status", "closed") == "已结案"
    assert labels.value_name("cell", "status", "closed") is None
    assert labels.value_name("resident", "tags", ["elderly", "custom"]) == ["老年人", "custom"]
    assert labels.action("created") == "新建" and labels.action("odd") == "odd"


def test_a_record_created_is_listed_as_a_change_from_every_field_empty():
    """A roster's rows take the quick path for records created; it lists what the general
    comparison lists, masks and empty fields alike."""
    after = {
        "name": "黄博然",
        "phone": "13812345678",
        "tags": {"elderly", "disabled"},
        "moved_in_on": date(2026, 3, 1),
        "household_id": None,
    }
    masks = {"phone": mask_phone}
    assert diff(None, after, masks) == diff({"household_id": None}, after, masks)
    assert diff({}, after, masks)[1] == {"field": "phone", "old": None, "new": "138****5678"}
