"""Notify's closed sets of names, as str enums: each member is the very string on the wire and
in the database, so an enum and its string compare equal."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from shared.events import notify as wire


class Channel(StrEnum):
    """Where a message can reach a resident."""

    INBOX = "inbox"
    EMAIL = "email"
    WEBHOOK = "webhook"
    SMS = "sms"


class DeliveryStatus(StrEnum):
    """A delivery record's state (one record per source event, resident and external channel)."""

    SENDING = "sending"  # claimed; the send is under way (or died mid-send: in doubt)
    RETRYING = "retrying"  # a retry is on the retry topic
    DEFERRED = "deferred"  # waits for the end of the resident's quiet hours
    SENT = "sent"
    FAILED = "failed"


class DeliveryOutcome(StrEnum):
    """What came of one channel tried for one resident (the metrics' and progress' label)."""

    SENT = "sent"
    DUPLICATE = "duplicate"  # delivered before: nothing sent again
    RETRYING = "retrying"
    DEFERRED = "deferred"
    FAILED = "failed"
    OPTED_OUT = "opted_out"


class BroadcastStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


UNFINISHED = (BroadcastStatus.QUEUED, BroadcastStatus.SENDING)
RETRYABLE = (DeliveryStatus.RETRYING, DeliveryStatus.DEFERRED)
CHANNELS = tuple(Channel)
EXTERNAL = (Channel.EMAIL, Channel.WEBHOOK, Channel.SMS)
LANGUAGES = ("zh-CN", "en")
# the wire's spelling for the API's models: their schemas and error messages name the strings
ChannelName = wire.Channel  # the events' own
BroadcastStatusName = Literal["queued", "sending", "done", "cancelled"]
Language = Literal["zh-CN", "en"]
