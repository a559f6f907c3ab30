"""Publishing events: CloudEvents headers, JSON body, keyed, waiting for the broker's ack."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from aiokafka.errors import KafkaError
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker

from shared.events import Envelope, EventPayload
from shared.kafka.faststream_adapter import connected_producer
from shared.metrics import EVENTS_PUBLISHED


class PublishFailed(RuntimeError):
    """Kafka did not acknowledge the event in time; nothing may be reported as accepted."""


class Outgoing(NamedTuple):
    """One event for ``publish_many``."""

    topic: str
    payload: EventPayload
    key: str
    event_id: str | None = None


class ReadyEvent(NamedTuple):
    """An event made earlier and kept (e.g. in an outbox), sent again exactly as made: its
    serialised payload, CloudEvents type, id and time; its subject is its key."""

    topic: str
    key: str
    event_type: str
    body: str
    event_id: str
    at: datetime


class EventPublisher:
    """Publishes payloads to declared topics; the declarations also feed the AsyncAPI document."""

    def __init__(self, broker: KafkaBroker, *, service: str, prefix: str, timeout_s: float):
        self._broker = broker
        self._service = service
        self._prefix = prefix
        self._timeout_s = timeout_s
        self._publishers: dict[str, Any] = {}
        self._published: dict[str, Any] = {}  # topic -> its EVENTS_PUBLISHED counter
        # topic -> the payload models it carries, in declaration order ([]: raw records)
        self.declared: dict[str, list[type[EventPayload]]] = {}
        self.descriptions: dict[str, str] = {}
        self._types: dict[str, frozenset[str]] = {}  # topic -> the CloudEvents types allowed
        self.source = f"/linli/{service}"

    def declare(self, topic: str, model: type[EventPayload] | None, description: str = "") -> None:
        """Register a topic this service writes and a payload it carries (None: raw bytes, as
        on dead-letter topics); declare each payload a topic carries. Publishing a payload
        that was not declared on its topic fails, so the declarations (and the AsyncAPI
        documents made from them) are complete."""
        if topic not in self._publishers:
            self._publishers[topic] = self._broker.publisher(
                self._prefix + topic, title=f"{self._prefix + topic}:{self._service}"
            )
            self._published[topic] = EVENTS_PUBLISHED.labels(self._service, topic)
            self.declared[topic] = []
            self.descriptions[topic] = description
        if description and not self.descriptions[topic]:
            self.descriptions[topic] = description
        if model is not None and model not in self.declared[topic]:
            self.declared[topic].append(model)
            self._types[topic] = frozenset(m.event_type for m in self.declared[topic])

    async def publish(
        self, topic: str, payload: EventPayload, *, key: str, event_id: str | None = None
    ) -> Envelope:
        """Send and wait for the acknowledgement; raise ``PublishFailed`` if it does not come."""
        [envelope] = await self.publish_many([Outgoing(topic, payload, key, event_id)])
        return envelope

    async def publish_many(self, events: Sequence[Outgoing]) -> list[Envelope]:
        """Send several events at once (all in flight together, one round trip) and return
        only when Kafka has acknowledged every one; ``PublishFailed`` if any is missing.
        There is no atomicity across them: after a failure some may be in Kafka, so a caller
        retries all of them with the same keys and event ids."""
        envelopes = []
        records = []
        for topic, payload, key, event_id in events:
            envelope = Envelope(
                type=payload.event_type,
                source=self.source,
                subject=payload.subject(),
                **({"id": event_id} if event_id else {}),
            )
            envelopes.append(envelope)
            records.append((topic, payload.model_dump_json().encode(), key, envelope.to_headers()))
        await self._send_all(records)
        return envelopes

    async def publish_ready(self, events: Sequence[ReadyEvent]) -> None:
        """Send events made earlier with their own ids and times, this service as their
        source, and wait for every acknowledgement, as ``publish_raw_many`` does."""
        await self.publish_raw_many(
            [
                (
                    event.topic,
                    event.body.encode(),
                    event.key,
                    Envelope(
                        type=event.event_type,
                        source=self.source,
                        subject=event.key,
                        id=event.event_id,
                        time=event.at,
                    ).to_headers(),
                )
                for event in events
            ]
        )

    async def publish_raw(
        self, topic: str, body: bytes, *, key: str | bytes | None, headers: dict[str, str]
    ) -> None:
        await self._send_all([(topic, body, key, headers)])

    async def publish_raw_many(
        self, records: Sequence[tuple[str, bytes, str | bytes | None, dict[str, str]]]
    ) -> None:
        """Send ready-made (topic, body, key, headers) records at once and wait for every
        acknowledgement, as ``publish_many`` does; records of one key on one topic are
        enqueued, and so stored, in the order given (the idempotent producer keeps it)."""
        if records:
            await self._send_all(records)

    async def _send_all(
        self, records: Sequence[tuple[str, bytes, str | bytes | None, dict[str, str]]]
    ) -> None:
        for topic, _, _, headers in records:
            if topic not in self._publishers:
                raise KeyError(f"topic {topic!r} was not declared by {self._service}")
            allowed = self._types.get(topic)
            if allowed is not None and headers.get("ce_type") not in allowed:
                raise KeyError(
                    f"{headers.get('ce_type')} was not declared on {topic!r} by {self._service}"
                )
        topic = records[0][0] if records else ""
        try:
            async with asyncio.timeout(self._timeout_s):
                # enqueue every record first (the producer batches them), then wait for acks
                acks = []
                for topic, body, key, headers in records:
                    raw_key = key.encode() if isinstance(key, str) else key
                    acks.append(await self._transmit(topic, body, raw_key, headers))
                for ack in acks:
                    await ack
        except (TimeoutError, KafkaError, OSError, IncorrectState) as exc:
            raise PublishFailed(f"Kafka did not acknowledge {topic}: {exc!r}") from exc
        for topic, *_ in records:
            self._published[topic].inc()

    async def _transmit(
        self, topic: str, body: bytes, key: bytes | None, headers: dict[str, str]
    ) -> Awaitable[Any]:
        """Hand one record to the producer; the returned awaitable completes on Kafka's ack."""
        producer = connected_producer(self._broker)
        if producer is None:  # before the broker connects: FastStream's own path
            return self._publishers[topic].publish(body, key=key, headers=headers)
        return await producer.send(
            self._prefix + topic,
            value=body,
            key=key,
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
