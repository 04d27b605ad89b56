"""The inbox on the wire."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.common.schemas import Timestamp, WireModel


class DeliveryOut(BaseModel):
    channel: str
    status: Literal["pending", "sent", "refused", "failed"]
    attempts: int
    sent_at: Timestamp | None
    last_error: str | None


class NotificationOut(BaseModel):
    id: str
    kind: str
    kind_name: str
    title: str
    body: str
    subject_type: str | None
    subject_id: str | None
    link: str | None
    created_at: Timestamp
    read_at: Timestamp | None
    settled_at: Timestamp | None = None
    deliveries: list[DeliveryOut] = []


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = None
    unread: int


class UnreadOut(BaseModel):
    unread: int


class SubscriptionResults(WireModel):
    """``wx.requestSubscribeMessage``'s answer as the mini-program receives it: template id →
    accept, reject, ban or filter."""

    results: dict[str, Literal["accept", "reject", "ban", "filter"]] = Field(
        min_length=1, max_length=20
    )


class SubscriptionOut(BaseModel):
    kind: str
    kind_name: str
    template_id: str | None
    long_term: bool
    remaining: int
    refused: bool
