"""Batched consumption for notify's high-volume topics: a poll's records are processed
concurrently across keys and in order within a key (an issue's transitions, a resident's
retries), and the offsets are committed once the whole batch is done. Any transient failure
rewinds every partition of the batch to its first record; the idempotency keys make the
replay harmless. Poison records go to the dead-letter topic, as with ``parts.consume``.

Sending one message costs a few database and Kafka round trips; done one record at a time a
partition could not keep up with 200 events per second.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Mapping

from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage

from shared.events import EventPayload
from shared.kafka.consumer import Backoff, Handler, PoisonMessage, decode
from shared.kafka.dead_letters import DeadLetters
from shared.logging import get_logger
from shared.metrics import EVENT_SECONDS, EVENTS_CONSUMED

log = get_logger("linli.notify.consumer")


async def _raw_bodies(message: KafkaMessage) -> object:
    return message.body


def subscribe_batched(
    broker: KafkaBroker,
    *,
    service: str,
    topic: str,
    prefix: str,
    handlers: Mapping[type[EventPayload], Handler],
    dead_letters: DeadLetters,
    max_records: int = 200,
) -> None:
    accepted = {model.event_type: model for model in handlers}
    by_type = {model.event_type: handler for model, handler in handlers.items()}
    consumer_name = f"{service}:{topic}"
    backoff = Backoff()

    async def one(record) -> None:
        started = time.perf_counter()
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
        EVENTS_CONSUMED.labels(service, topic, outcome).inc()
        EVENT_SECONDS.labels(service, topic).observe(time.perf_counter() - started)

    async def in_order(records) -> None:
        for record in records:
            await one(record)

    async def consume(message: KafkaMessage = Context("message")) -> None:
        raw = message.raw_message
        records = raw if isinstance(raw, tuple) else (raw,)
        by_key = defaultdict(list)
        for record in records:
            by_key[(record.partition, record.key)].append(record)
        results = await asyncio.gather(
            *(in_order(group) for group in by_key.values()), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            EVENTS_CONSUMED.labels(service, topic, "retry").inc()
            delay = backoff.next_delay()
            log.warning("retrying_batch", topic=topic, error=repr(failures[0]), delay=delay)
            await asyncio.sleep(delay)
            raise failures[0]
        backoff.reset()

    consume.__name__ = f"consume_batch_{topic.replace('.', '_').replace('-', '_')}"
    broker.subscriber(
        prefix + topic,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=20,
        group_id=f"linli-{service}",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        decoder=_raw_bodies,
        title=f"{prefix + topic}:{service}",
        description=f"{service} consumes {topic} in batches",
    )(consume)
