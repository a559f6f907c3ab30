"""Notify's Kafka adapter: which topic's events go to which use case of the application."""

from __future__ import annotations

from services.notify.application import Notify
from services.notify.timing import waited
from shared.events import IssueAssignedV1, IssueReportedV1, ResidentContactV1
from shared.events.consult import ConsultNoticeV1
from shared.events.follow import IssueFollowedV1
from shared.events.lifecycle import TRANSITIONS, ReceiptIssuedV1
from shared.events.notify import NotificationRetryV1
from shared.service import ServiceParts
from shared.topics import (
    CONSULT_NOTICES,
    ISSUES_LIFECYCLE,
    ISSUES_REPORTED,
    LEDGER_RECEIPTS,
    NOTIFICATIONS_RETRY,
    RESIDENTS_CONTACTS,
)

CONSUMER_BATCH = 200  # records per poll, processed concurrently across keys


def subscribe(parts: ServiceParts, notify: Notify) -> None:
    notifier = notify.notifier
    parts.consume(RESIDENTS_CONTACTS, {ResidentContactV1: notifier.on_contact})
    streamed = {
        ISSUES_REPORTED: {
            IssueReportedV1: notifier.on_reported,
            IssueFollowedV1: notify.followers.on_followed,
        },
        ISSUES_LIFECYCLE: {
            IssueAssignedV1: notifier.on_assigned,
            **{transition: notifier.on_transition for transition in TRANSITIONS},
        },
        LEDGER_RECEIPTS: {ReceiptIssuedV1: notifier.on_receipt},
        CONSULT_NOTICES: {ConsultNoticeV1: notify.consult_notices.on_notice},
    }
    for topic, handlers in streamed.items():
        timed = {model: waited(handler) for model, handler in handlers.items()}
        parts.consume(topic, timed, batch_size=CONSUMER_BATCH, streaming=True)
    parts.consume(  # retries wait for their due time on purpose: not counted as waiting
        NOTIFICATIONS_RETRY, {NotificationRetryV1: notifier.on_retry}, batch_size=CONSUMER_BATCH
    )
