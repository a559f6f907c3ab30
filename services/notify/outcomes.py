"""What came of a delivery, on Kafka: ``notifications.delivered`` and ``.failed`` (with the
dead letter beside it), and the retry topic's records. Each event's id is derived from the
delivery id, so publishing it again after a crash adds nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.notify.channels import AddressedMessage
from shared.events import derived_event_id
from shared.events.notify import (
    NotificationDeliveredV1,
    NotificationFailedV1,
    NotificationRetryV1,
    NotificationsBatchDeliveredV1,
)
from shared.kafka.publisher import EventPublisher
from shared.topics import (
    NOTIFICATIONS_DEAD,
    NOTIFICATIONS_DELIVERED,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_RETRY,
)


class OutcomeEvents:
    def __init__(self, publisher: EventPublisher, clock: Callable[[], datetime]):
        self._publisher = publisher
        self._clock = clock
        publisher.declare(NOTIFICATIONS_DELIVERED, NotificationDeliveredV1)
        publisher.declare(NOTIFICATIONS_DELIVERED, NotificationsBatchDeliveredV1)
        publisher.declare(NOTIFICATIONS_FAILED, NotificationFailedV1)
        publisher.declare(NOTIFICATIONS_RETRY, NotificationRetryV1)
        publisher.declare(NOTIFICATIONS_DEAD, NotificationRetryV1)

    async def retry(self, retry: NotificationRetryV1) -> None:
        await self._publisher.publish(
            NOTIFICATIONS_RETRY,
            retry,
            key=retry.resident_ref,
            event_id=derived_event_id("retry", retry.delivery_id, str(retry.attempt)),
        )

    async def delivered(self, out: AddressedMessage, channel: str, attempts: int) -> None:
        await self._publisher.publish(
            NOTIFICATIONS_DELIVERED,
            delivered_event(out, channel, attempts, self._clock()),
            key=out.resident_ref,
            event_id=derived_event_id("delivered", out.delivery_id),
        )

    async def failed(
        self,
        out: AddressedMessage,
        channel: str,
        attempts: int,
        reason: str,
        later: tuple[str, ...],
    ) -> None:
        """The failure, then the send as a dead letter with its reason."""
        now = self._clock()
        failed = NotificationFailedV1(
            **_about(out),
            channel=channel,
            attempts=attempts,
            reason=reason[:500],
            failover_to=later[0] if later else None,
            failed_at=now,
        )
        await self._publisher.publish(
            NOTIFICATIONS_FAILED,
            failed,
            key=out.resident_ref,
            event_id=derived_event_id("failed", out.delivery_id),
        )
        dead = retry_event(out, channel, later, attempts, now, reason[:500])
        await self._publisher.publish(
            NOTIFICATIONS_DEAD,
            dead,
            key=out.resident_ref,
            event_id=derived_event_id("dead", out.delivery_id),
        )


def retry_event(
    out: AddressedMessage,
    channel: str,
    later: tuple[str, ...],
    attempt: int,
    due: datetime,
    reason: str,
) -> NotificationRetryV1:
    """The send again on ``channel`` at ``due`` (then ``later``'s channels if it fails)."""
    return NotificationRetryV1(
        **_about(out),
        channel=channel,
        later_channels=later,
        attempt=attempt,
        due_at=due,
        title=out.message.title,
        body=out.message.body,
        language=out.message.language,
        urgent=out.urgent,
        reason=reason,
    )


def delivered_event(
    out: AddressedMessage, channel: str, attempts: int, at: datetime
) -> NotificationDeliveredV1:
    return NotificationDeliveredV1(
        **_about(out), channel=channel, attempts=attempts, delivered_at=at
    )


def _about(out: AddressedMessage) -> dict[str, Any]:
    """What every event about one delivery says: which it is, from which event, for whom."""
    return {
        "delivery_id": out.delivery_id,
        "source_event": out.source_event,
        "kind": out.message.kind,
        "resident_ref": out.resident_ref,
        "issue_id": out.issue_id,
    }
