"""The organiser's rotating QR code: this activity's and fresh, stale, or not a code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.volunteer.models import Activity
from services.volunteer.service.attendance import checkin_token, token_verdict

NOW = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 09:00 Beijing time


def _activity(secret: str = "s" * 32, activity_id: str = "a1") -> Activity:
    return Activity(id=activity_id, checkin_secret=secret)


def test_a_fresh_code_of_this_activity_is_good_and_a_minute_later_expired():
    event = _activity()
    token, expires = checkin_token(event, NOW, 60)
    assert expires == NOW + timedelta(seconds=60)
    assert token_verdict(event, token, NOW + timedelta(seconds=59), 60) == "ok"
    assert token_verdict(event, token, NOW + timedelta(seconds=61), 60) == "expired"


def test_another_activitys_a_forged_or_a_future_code_is_invalid():
    event = _activity()
    other, _ = checkin_token(_activity(activity_id="a2"), NOW, 60)
    assert token_verdict(event, other, NOW, 60) == "invalid"
    token, _ = checkin_token(event, NOW, 60)
    assert token_verdict(event, token[:-1] + ("0" if token[-1] != "0" else "1"), NOW, 60) == (
        "invalid"
    )
    assert token_verdict(event, token, NOW - timedelta(seconds=5), 60) == "invalid"
    for junk in ("", ".", "abc", "9" * 40 + ".x"):
        assert token_verdict(event, junk, NOW, 60) == "invalid"
