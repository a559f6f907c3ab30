"""Reliable consumption: offsets committed only after the side effect, poison messages to the
dead-letter topic, transient failures retried with back-off without losing the message.

A handler receives the envelope and the validated payload and may return an outcome label
for the metrics (e.g. "duplicate"). It raises ``PoisonMessage`` for an
event that can never be processed; any other exception is taken as transient: the consumer
seeks back, waits, and tries the same record again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from pydantic import ValidationError

from shared.events import PAYLOADS_BY_TYPE, Envelope, EventPayload
from shared.kafka.dead_letters import DeadLetters
from shared.logging import get_logger
from shared.metrics import EVENT_SECONDS, EVENTS_CONSUMED

Handler = Callable[[Envelope, EventPayload], Awaitable[str | None]]
log = get_logger("linli.consumer")


class PoisonMessage(Exception):
    """This event can never be processed: send it to the dead-letter topic and go on."""


def decode(
    record_headers: Iterable[tuple[str, bytes]] | None,
    body: bytes | None,
    accepts: Mapping[str, type[EventPayload]],
) -> tuple[Envelope, EventPayload] | None:
    """Envelope and payload of a record; None for a known platform event this consumer does
    not handle; ``PoisonMessage`` for anything malformed or unknown."""
    try:
        envelope = Envelope.from_headers(dict(record_headers or ()))
    except ValueError as exc:
        raise PoisonMessage(f"bad CloudEvents headers: {exc}") from exc
    model = accepts.get(envelope.type)
    if model is None:
        if envelope.type in PAYLOADS_BY_TYPE:
            return None
        raise PoisonMessage(f"unknown event type {envelope.type!r}")
    try:
        return envelope, model.model_validate_json(body or b"")
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise PoisonMessage(f"invalid {envelope.type} payload: {errors}") from exc


class Backoff:
    """Exponential back-off for one consumer, reset by the first success."""

    def __init__(self, first_s: float = 0.2, max_s: float = 10.0):
        self.first_s, self.max_s, self.failures = first_s, max_s, 0

    def next_delay(self) -> float:
        self.failures += 1
        return min(self.max_s, self.first_s * 2 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures = 0


async def _raw_body(message: KafkaMessage) -> bytes:
    """Leave the body undecoded: ``decode`` validates it, so bad JSON becomes a dead letter
    instead of an exception inside the framework."""
    return message.body


def subscribe(
    broker: KafkaBroker,
    *,
    service: str,
    topic: str,
    prefix: str,
    handlers: Mapping[type[EventPayload], Handler],
    dead_letters: DeadLetters,
    group_id: str | None = None,
    description: str = "",
) -> None:
    """Register a consumer of ``topic`` in the service's consumer group; ``handlers`` says
    which payload types it processes (other platform events on the topic are skipped)."""
    accepted = {model.event_type: model for model in handlers}
    by_type = {model.event_type: handler for model, handler in handlers.items()}
    consumer_name = f"{service}:{topic}"
    backoff = Backoff()

    async def consume(message: KafkaMessage = Context("message")) -> None:
        record = message.raw_message
        started = time.perf_counter()
        outcome = "ok"
        try:
            decoded = decode(record.headers, record.value, accepted)
            if decoded is None:
                outcome = "skipped"
            else:
                envelope, payload = decoded
                outcome = await by_type[envelope.type](envelope, payload) or "ok"
        except PoisonMessage as exc:
            outcome = "dead_letter"
            log.warning("dead_letter", topic=topic, offset=record.offset, error=str(exc))
            await dead_letters.send(record, consumer_name, str(exc))
        except Exception as exc:
            EVENTS_CONSUMED.labels(service, topic, "retry").inc()
            delay = backoff.next_delay()
            log.warning(
                "retrying_event", topic=topic, offset=record.offset, error=repr(exc), delay=delay
            )
            await asyncio.sleep(delay)
            raise
        backoff.reset()
        EVENTS_CONSUMED.labels(service, topic, outcome).inc()
        EVENT_SECONDS.labels(service, topic).observe(time.perf_counter() - started)

    consume.__name__ = f"consume_{topic.replace('.', '_').replace('-', '_')}"
    broker.subscriber(
        prefix + topic,
        group_id=group_id or f"linli-{service}",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        decoder=_raw_body,
        title=f"{prefix + topic}:{service}",
        description=description or f"{service} consumes {topic}",
    )(consume)
