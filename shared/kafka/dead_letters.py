"""Dead-letter publishing: the original record, its headers, and why it was refused."""

from __future__ import annotations

from typing import Any

from shared.events import utcnow
from shared.kafka.publisher import EventPublisher
from shared.topics import dead_letters


def dead_letter_headers(record: Any, consumer: str, error: str) -> dict[str, str]:
    """The original headers plus where the record came from and the error (cut to 2 KB)."""
    headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
    headers.update(
        {
            "dlq_error": error[:2000],
            "dlq_consumer": consumer,
            "dlq_source_topic": record.topic,
            "dlq_source_partition": str(record.partition),
            "dlq_source_offset": str(record.offset),
            "dlq_time": utcnow().isoformat(),
        }
    )
    return headers


class DeadLetters:
    """Sends unprocessable records to ``dlq.<service>``."""

    def __init__(self, publisher: EventPublisher, service: str):
        self._publisher = publisher
        self._service = service
        self.topic = dead_letters(service)

    async def send(self, record: Any, consumer: str, error: str) -> None:
        await self._publisher.publish_raw(
            self.topic,
            record.value or b"",
            key=record.key,
            headers=dead_letter_headers(record, consumer, error),
        )
