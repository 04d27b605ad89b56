"""Codes and numbers are ASCII digits. A Chinese IME types full-width ones, which mean the
same digits and are read as such; digits of other scripts are refused, never stored."""

from __future__ import annotations

import pytest

from services.common.periods import parse_period
from services.common.validators import (
    InvalidValue,
    normalize_area_code,
    normalize_mobile,
    normalize_scope_code,
    parse_id_number,
)
from tests.support import make_id_number

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def test_an_id_number_typed_full_width_is_the_same_number():
    number = make_id_number()
    assert parse_id_number(number.translate(FULL_WIDTH)).number == number


def test_an_id_number_in_arabic_indic_digits_is_refused_for_its_format():
    number = make_id_number()
    with pytest.raises(InvalidValue) as caught:
        parse_id_number(number.translate(ARABIC_INDIC))
    assert caught.value.code == "id_number_invalid"


def test_area_and_scope_codes_are_ascii_digits():
    assert normalize_area_code("４１０１０５００１００１") == "410105001001"
    assert normalize_scope_code("４１０１０５００１０００") == "410105001"
    for code in ("٤١٠١٠٥٠٠١٠٠١", "４１０１０５００１００"):
        with pytest.raises(InvalidValue):
            normalize_area_code(code)
    with pytest.raises(InvalidValue):
        normalize_scope_code("٤١٠١٠٥")


def test_a_phone_in_another_script_is_refused():
    assert normalize_mobile("１３８ ００１３ ８０００") == "13800138000"
    with pytest.raises(InvalidValue):
        normalize_mobile("13800138000".translate(ARABIC_INDIC))


@pytest.mark.parametrize("label", ["0000", "9999", "9999Q4", "0000H1", "٢٠٢٦", "2026-13"])
def test_a_period_out_of_range_or_script_is_refused(label):
    with pytest.raises(InvalidValue):
        parse_period(label)


def test_an_area_given_by_its_significant_digits_is_the_full_code():
    """A district's scope reads 410105; the same code asked as an area is 410105000000."""
    assert normalize_area_code("410105") == "410105000000"
    assert normalize_area_code("410105001") == "410105001000"
    assert normalize_area_code("41") == "410000000000"
    for code in ("4101050", "41010500100", "4"):
        with pytest.raises(InvalidValue):
            normalize_area_code(code)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2024-03-01", "2024-03-01"),
        ("2010/5/1", "2010-05-01"),
        ("2010/5/1 0:00", "2010-05-01"),
        ("2024年3月1日", "2024-03-01"),
        ("２０２４年３月１日", "2024-03-01"),
        ("2019.10.08", "2019-10-08"),
        ("20200102", "2020-01-02"),
    ],
)
def test_a_roster_day_as_chinese_excel_and_workers_write_it(text, day):
    from services.registry.imports.rows import parse_roster_day

    assert parse_roster_day(text).isoformat() == day


@pytest.mark.parametrize("text", ["去年", "2024/13/1", "2024-02-30", "24/3/1", "2024年3月"])
def test_what_is_no_day_is_refused(text):
    from services.registry.imports.rows import parse_roster_day

    with pytest.raises(ValueError):
        parse_roster_day(text)
