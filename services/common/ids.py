"""Opaque, time-sortable identifiers (UUIDv7): a list ordered by id is ordered by creation."""

import uuid6


def new_id() -> str:
    return str(uuid6.uuid7())
