"""THE ADAPTER to FastStream's internals: the one place the platform reaches past a library's
public API. ``tests/integration/test_faststream_adapter.py`` fails when FastStream changes
what this relies on; fix it here and nowhere else.

What is missing from the public API: the broker's connected aiokafka producer. The
publisher sends on it directly on the hot path (same settings: acks=all, idempotent),
because FastStream's publish pipeline costs about as much CPU as the send itself
(tests/bench/test_platform_bench.py measures both). Relied on, as of FastStream 0.7:
``broker.config.producer._producer`` is a producer state whose ``producer`` is the
``AIOKafkaProducer`` and whose ``closed`` says whether it is connected."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker


def connected_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The broker's aiokafka producer once connected; None before (or after) that."""
    state = getattr(getattr(broker.config, "producer", None), "_producer", None)
    if state is None or getattr(state, "closed", True):
        return None
    producer = getattr(state, "producer", None)
    return producer if isinstance(producer, AIOKafkaProducer) else None
