"""How the assessment writes figures for people: the export's values and verdicts, a
pledge's period and target."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from services.assessment import rules


def test_values_read_in_per_cent_and_units_and_say_when_there_is_none():
    assert rules.shown_value(0.0075, "%") == "0.75%"
    assert rules.shown_value(0.099, "%") == "9.9%"
    assert rules.shown_value(0.1, "%") == "10%"
    assert rules.shown_value(320.0, "m²") == "320 m²"
    assert rules.shown_value(6.0, "人") == "6 人"
    assert rules.shown_value(35.4167, "m²/100户") == "35.42 m²/100户"
    assert rules.shown_value(0.0, "次") == "0 次"
    assert rules.shown_value(138888.8889, "元/100户/年") == "138,888.89 元/100户/年"
    assert rules.shown_standard(">=", 1000, "m²") == "≥ 1,000 m²"
    assert rules.shown_value(None, "%") == "无数据"
    assert rules.shown_standard(">=", 0.1, "%") == "≥ 10%"
    assert rules.shown_standard("<", 3, None) == "< 3"
    assert rules.shown_result(0.2, True) == "达标"
    assert rules.shown_result(0.02, False) == "未达标"
    assert rules.shown_result(None, False) == "未达标(无数据)"


def test_a_pledge_reads_in_its_own_period():
    day = date(2026, 8, 15)
    assert rules.period_of("quarter", day) == "2026Q3"
    assert rules.period_of("half", day) == "2026H2"
    assert rules.period_of("year", day) == "2026"
    assert rules.pledge_target(Decimal("1.00"), "times", "quarter") == "每季度 1 次"
    assert rules.pledge_target(Decimal("16"), "opening_hours_per_week", "year") == "每周 16 小时"
    assert rules.pledge_required(Decimal(1), "quarter", 4) == 4
    # A weekly rate asks that many hours in every week of the period, whatever its ``per``:
    # a quarter is 13 weeks, a year 52.
    assert rules.pledge_required(Decimal(8), "year", 1, "opening_hours_per_week") == 104
    assert rules.pledge_required(Decimal(8), "quarter", 4, "opening_hours_per_week") == 416
    assert rules.percent(Fraction(1), Fraction(4)) == 25.0
    assert rules.percent(Fraction(3), Fraction(2)) == 100.0  # more than asked counts as all
    assert rules.percent(Fraction(1), Fraction(3)) == 33.3
