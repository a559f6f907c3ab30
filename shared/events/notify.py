"""Notify's outcomes and its own retry records (topics ``notifications.*``, keyed by resident
reference). They carry message text and the channel's name, never a contact detail."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.events.base import EventPayload, IssueId, ResidentRef

Channel = Literal["inbox", "email", "webhook", "sms"]


class NotificationDeliveredV1(EventPayload):
    """A message reached a resident on one channel (one per source event, resident, channel)."""

    event_type: ClassVar[str] = "linli.notifications.delivered.v1"
    subject_field: ClassVar[str] = "delivery_id"

    delivery_id: str = Field(
        description="<source event>:<resident>:<channel>; the idempotency key."
    )
    source_event: str = Field(description="CloudEvents id of the event (or broadcast) behind it.")
    kind: str = Field(description="Message kind, e.g. issue.resolved, receipt.issued, broadcast.")
    resident_ref: ResidentRef
    channel: Channel
    attempts: int = Field(1, ge=1)
    issue_id: IssueId | None = None
    delivered_at: datetime


class NotificationsBatchDeliveredV1(EventPayload):
    """One batch of an area broadcast reached these residents' inboxes (one event per fan-out
    batch instead of one per resident; same topic ``notifications.delivered``)."""

    event_type: ClassVar[str] = "linli.notifications.batch-delivered.v1"
    subject_field: ClassVar[str] = "source_event"

    source_event: str = Field(description="The broadcast id.")
    kind: str = "broadcast"
    channel: Channel = "inbox"
    resident_refs: tuple[ResidentRef, ...] = Field(description="Everyone reached in the batch.")
    delivered_at: datetime


class NotificationFailedV1(EventPayload):
    """A send failed for good on one channel (permanent error, or retries exhausted)."""

    event_type: ClassVar[str] = "linli.notifications.failed.v1"
    subject_field: ClassVar[str] = "delivery_id"

    delivery_id: str
    source_event: str
    kind: str
    resident_ref: ResidentRef
    channel: Channel
    attempts: int = Field(1, ge=0)
    reason: str = Field(max_length=500)
    failover_to: Channel | None = Field(None, description="Next channel tried, if any.")
    issue_id: IssueId | None = None
    failed_at: datetime


class NotificationRetryV1(EventPayload):
    """A send to try again at ``due_at`` (topic ``notifications.retry``); with ``reason`` set on
    ``notifications.dead`` it records a send given up on, and can be replayed from there."""

    event_type: ClassVar[str] = "linli.notifications.retry.v1"
    subject_field: ClassVar[str] = "delivery_id"

    delivery_id: str
    source_event: str
    kind: str
    resident_ref: ResidentRef
    channel: Channel
    later_channels: tuple[Channel, ...] = Field((), description="Failover order after this one.")
    attempt: int = Field(ge=1, description="Number of the attempt to make.")
    due_at: datetime
    title: str = Field(max_length=300)
    body: str = Field(max_length=4000)
    language: Literal["zh-CN", "en"]
    issue_id: IssueId | None = None
    urgent: bool = False
    reason: str | None = Field(None, max_length=500)


NOTIFY_PAYLOADS: tuple[type[EventPayload], ...] = (
    NotificationDeliveredV1,
    NotificationsBatchDeliveredV1,
    NotificationFailedV1,
    NotificationRetryV1,
)
