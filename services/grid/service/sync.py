"""The phone's offline sync: cursors that say up to when a phone holds the data."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

from services.common.errors import (
    Gone,
)
from services.common.pagination import cursor_invalid

# Sync windows overlap by this much so that a late commit is never skipped (not a standard:
# a property of the mechanism).
SYNC_SKEW = timedelta(seconds=5)


def encode_sync_cursor(until: datetime) -> str:
    raw = json.dumps({"v": 1, "t": until.isoformat()})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_sync_cursor(cursor: str, now: datetime, ttl: timedelta) -> datetime:
    """The time a cursor carries. One the platform did not write — not base64 JSON, a time
    without an offset, one after ``now``, one at the edge of the calendar — is a 400."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        since = datetime.fromisoformat(raw["t"])
        if since.utcoffset() is None or since > now:
            raise ValueError("not a cursor the platform wrote")
        age = now - since
    except (ValueError, KeyError, TypeError, OverflowError):
        raise cursor_invalid() from None
    if age > ttl:
        raise Gone("sync.cursor_expired")
    return since
