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
