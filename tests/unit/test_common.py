"""Pure logic of the shared kernel."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date

import pytest

from gateway.ratelimits import MinuteCounts, SlidingWindow
from services.common.errors import BadRequest
from services.common.i18n import negotiate
from services.common.ids import new_id
from services.common.pagination import decode_cursor, encode_cursor
from services.common.pii import PiiCipher, mask_id_number, mask_phone
from services.common.settings import DEV_PII_INDEX_KEY, DEV_PII_KEY, Settings
from services.common.validators import (
    InvalidValue,
    normalize_mobile,
    normalize_uscc,
    parse_id_number,
    significant_prefix,
)
from tests.support import make_id_number


def test_a_valid_id_number_gives_birth_date_gender_and_place():
    number = make_id_number(date(1990, 3, 7), seq=123)
    info = parse_id_number(number, today=date(2026, 11, 22))
    assert info.birth_date == date(1990, 3, 7)
    assert info.gender == "male"  # 123 is odd
    assert info.birthplace_code == "410105"
    assert info.age_on(date(2026, 11, 22)) == 36


@pytest.mark.parametrize(
    "number",
    [
        "41010519900307123",  # 17 characters
        "4101051990030712AX",  # a letter in the body
        "410105199002301230",  # 30 February (check digit made valid below)
        "990105199003071230",  # no such birthplace
    ],
)
def test_invalid_id_numbers_are_refused(number):
    from stdnum.cn import ric

    if len(number) == 18 and number[:17].isdigit():
        number = number[:17] + ric.calc_check_digit(number[:17] + "0")
    with pytest.raises(InvalidValue) as caught:
        parse_id_number(number)
    assert caught.value.code == "id_number_invalid"


def test_a_wrong_check_digit_and_a_future_birth_are_refused():
    good = make_id_number(date(1980, 1, 1))
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(InvalidValue) as caught:
        parse_id_number(wrong)
    assert "check digit" in caught.value.reason.en
    future = make_id_number(date(2030, 1, 1))
    with pytest.raises(InvalidValue) as caught:
        parse_id_number(future, today=date(2026, 11, 22))
    assert "future" in caught.value.reason.en


def test_uscc_check_digit_and_letter_authority():
    assert normalize_uscc("91350100M000100Y43") == "91350100M000100Y43"
    with pytest.raises(InvalidValue):
        normalize_uscc("91350100M000100Y44")
    with pytest.raises(InvalidValue):
        normalize_uscc("91350100M000100Y4")


def test_mobile_numbers():
    assert normalize_mobile("+86 138-1234-5678") == "13812345678"
    assert normalize_mobile("19912345678") == "19912345678"
    for bad in ("12345678901", "1381234567", "037163123456", "hello"):
        with pytest.raises(InvalidValue):
            normalize_mobile(bad)


def test_masking():
    assert mask_id_number("410105199003071234") == "410105********1234"
    assert mask_phone("13812345678") == "138****5678"


def test_encryption_round_trip_and_field_binding():
    cipher = PiiCipher(DEV_PII_KEY, DEV_PII_INDEX_KEY)
    sealed = cipher.encrypt("410105199003071234", "id_number")
    assert "410105" not in sealed
    assert cipher.encrypt("410105199003071234", "id_number") != sealed  # fresh nonce
    assert cipher.decrypt(sealed, "id_number") == "410105199003071234"
    with pytest.raises(Exception):  # noqa: B017 - moved to another column: refused
        cipher.decrypt(sealed, "phone")
    assert cipher.blind_index("x", "id_number") == cipher.blind_index("x", "id_number")
    assert cipher.blind_index("x", "id_number") != cipher.blind_index("x", "phone")


def test_significant_prefix_of_area_codes():
    assert significant_prefix("410105001001") == "410105001001"
    assert significant_prefix("410105001000") == "410105001"
    assert significant_prefix("410105000000") == "410105"
    assert significant_prefix("410100000000") == "4101"
    assert significant_prefix("410105001001003") == "410105001001003"


def test_language_negotiation():
    assert negotiate(None) == "zh"
    assert negotiate("en-US,en;q=0.9") == "en"
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert negotiate("fr, en;q=0.5") == "en"
    assert negotiate("de") == "zh"


def test_cursor_round_trip_checks_each_value_against_its_column():
    from datetime import UTC, datetime

    from sqlalchemy import Column, Integer, String

    from services.common.database import UTCDateTime

    columns = [Column("name", String()), Column("n", Integer()), Column("at", UTCDateTime())]
    at = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    assert decode_cursor(encode_cursor(["a", 3, at]), columns) == ["a", 3, at]
    for forged in (["a", "3", at.isoformat()], [["a"], 3, at.isoformat()], ["a", 3, 5], [1]):
        raw = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
        with pytest.raises(BadRequest):
            decode_cursor(raw, columns)


def test_production_refuses_development_secrets_and_demo_data():
    with pytest.raises(ValueError) as caught:
        Settings(env="production")
    text = str(caught.value)
    assert "SECRET_KEY" in text and "PII_KEY" in text and "DEMO_DATA" in text


def test_a_sliding_minute_admits_the_rate_and_frees_room_as_the_last_minute_slides_out():
    window = SlidingWindow(MinuteCounts(), 60, "ip")
    start = 600.0  # the start of minute 10
    assert all(window.take("k", start + 1) == 0 for _ in range(60))
    wait = window.take("k", start + 1)
    assert wait == pytest.approx(59)  # nothing frees up before the next minute
    assert window.take("other", start + 1) == 0  # keys are counted apart
    # 15 s into the next minute a quarter of the last minute has slid out: 15 places.
    assert all(window.take("k", start + 75) == 0 for _ in range(15))
    assert window.take("k", start + 75) > 0


def test_the_circuit_breaker_opens_cools_down_and_tries_once():
    from gateway.proxy import CircuitBreaker

    breaker = CircuitBreaker(threshold=3, cooldown_s=5)
    for t in range(3):
        assert breaker.allow(t)
        breaker.failure(t)
    assert not breaker.allow(3)  # open
    assert breaker.allow(8)  # cooled down: one trial
    assert not breaker.allow(8.1)  # while the trial runs, the rest wait
    breaker.failure(8.2)  # the trial failed: open again
    assert not breaker.allow(9)
    assert breaker.allow(13.3)
    breaker.success()
    assert breaker.allow(13.4) and breaker.allow(13.5)  # closed


def test_ids_made_in_a_burst_are_unique_and_sort_in_the_order_they_were_made():
    ids = [new_id() for _ in range(20_000)]  # far more than one millisecond's worth
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(i[14] == "7" for i in ids[:10])  # the version nibble: UUIDv7


def test_the_blind_index_is_keyed_and_deterministic():
    one = PiiCipher(DEV_PII_KEY, "index-key-one")
    other = PiiCipher(DEV_PII_KEY, "index-key-two")
    number = make_id_number()
    assert one.blind_index(number, "id_number") == one.blind_index(number, "id_number")
    assert one.blind_index(number, "id_number") != one.blind_index(number, "phone")
    assert one.blind_index(number, "id_number") != other.blind_index(number, "id_number")
    # The stored indexes stay findable: the value is HMAC-SHA256 of "field:value", however
    # the cipher computes it.
    expected = hmac.new(b"index-key-one", f"id_number:{number}".encode(), hashlib.sha256)
    assert one.blind_index(number, "id_number") == expected.hexdigest()


def test_the_gateway_pool_must_let_go_of_connections_before_the_services_do():
    with pytest.raises(ValueError, match="PROXY_POOL_IDLE_S"):
        Settings(env="test", proxy_pool_idle_s=30, service_keep_alive_s=30)
    assert Settings(env="test").proxy_pool_idle_s < Settings(env="test").service_keep_alive_s


def test_a_field_error_pydantic_names_but_the_catalog_does_not_is_still_chinese():
    from services.common.errors import FieldError
    from services.common.i18n import current_lang

    exact = FieldError("day", "date_from_datetime_inexact", text="Datetimes provided to dates")
    assert exact.as_dict()["message"] == "应为日期(YYYY-MM-DD),不带时间。"
    unknown = FieldError("x", "some_new_pydantic_type", text="Input is odd")
    assert unknown.as_dict()["message"] == "取值无效。"
    token = current_lang.set("en")
    try:
        assert unknown.as_dict()["message"] == "Input is odd"
    finally:
        current_lang.reset(token)


async def test_calls_made_at_once_answer_in_order_and_a_failure_waits_for_the_others():
    """The scores ask three services and their own database together: the answers come in
    the order asked, and a peer's failure is raised as it is, once the query beside it has
    ended (never cut off halfway on the request's session)."""
    import asyncio

    from services.common.errors import AppError
    from services.common.peers import at_once

    ended = []

    async def answer(value, delay: float):
        await asyncio.sleep(delay)
        ended.append(value)
        return value

    async def down():
        raise AppError("upstream.unavailable", 503, service="grid")

    assert await at_once(answer("slow", 0.02), answer("quick", 0)) == ["slow", "quick"]
    ended.clear()
    with pytest.raises(AppError) as failed:
        await at_once(down(), answer("query", 0.02))
    assert failed.value.status == 503 and ended == ["query"]
