"""A period as an official reads it, beside the label the API takes."""

from __future__ import annotations

import pytest

from services.common.periods import parse_period


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("2026", "2026年"),
        ("2026H1", "2026年上半年"),
        ("2026H2", "2026年下半年"),
        ("2026Q1", "2026年第一季度"),
        ("2026Q4", "2026年第四季度"),
        ("2026-07", "2026年7月"),
    ],
)
def test_each_kind_of_period_has_its_chinese_name(label, name):
    assert parse_period(label).name == name
