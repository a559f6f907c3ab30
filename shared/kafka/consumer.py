"""Reliable consumption: offsets committed only after the side effect, poison messages to the
dead-letter topic, transient failures retried with back-off without losing the message.

A subscription is made of small pieces, each in its own module:
- ``decoding``: a record's CloudEvents envelope and validated payload, or ``PoisonMessage``;
- ``handling``: the handlers (one event, or every event of a type in a fetch at once), their
  outcomes counted, what can never succeed handed to the dead-letter policy;
- ``policies``: the retry policy (transient failures, as ``shared.kafka.failures`` classifies
  them, back off and run the same work again, measured by ``linli_consumer_stuck_seconds``)
  and the dead-letter policy (anything else goes to ``dlq.<service>`` at once with its error);
- ``batch_consumer`` and ``streaming_consumer``: how records are fetched and committed;
- ``fetching``: the supervised fetch loop on aiokafka's public consumer, restarted when it
  ends for any reason but a stop, and reported in the service's readiness while it is down.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.events import EventPayload
from shared.kafka.batch_consumer import BatchConsumer
from shared.kafka.dead_letters import DeadLetters
from shared.kafka.decoding import Item, PoisonMessage, decode
from shared.kafka.failures import TransientError
from shared.kafka.fetching import ConsumerConfig, FetchLoop
from shared.kafka.handling import BatchHandler, Handler, RecordHandling
from shared.kafka.policies import DeadLetterPolicy, RetryPolicy
from shared.kafka.streaming_consumer import StreamingConsumer, WorkTimedOut
from shared.settings import Settings

__all__ = [
    "BatchHandler",
    "Handler",
    "Item",
    "PoisonMessage",
    "TransientError",
    "WorkTimedOut",
    "consumer_group",
    "decode",
    "subscribe",
]
WORK_TIMEOUT_S = 60.0  # a streaming unit's attempt unfinished by then is retried


def consumer_group(prefix: str, service: str, topic: str) -> str:
    """One consumer group per (service, topic): a replica joining or leaving rebalances only
    the groups of the topics it reads, and never stops its other consumers. The topic
    prefix isolates groups the way it isolates topics."""
    return f"{prefix}linli-{service}.{topic}"


def subscribe(
    settings: Settings,
    *,
    service: str,
    topic: str,
    handlers: Mapping[type[EventPayload], Handler],
    dead_letters: DeadLetters,
    batch_handlers: Mapping[type[EventPayload], BatchHandler] | None = None,
    batch_size: int = 100,
    streaming: bool = False,
) -> FetchLoop:
    """A consumer of ``topic`` in its own consumer group, as a static member under the
    replica's name (restarted under the same name it gets its partitions back at once, without
    a rebalance; its session's timing: ``shared.kafka.membership``); ``handlers`` and
    ``batch_handlers`` say which payload types it processes (other platform events on the
    topic are skipped). The service's runtime starts and stops it.

    A batch consumer (the default) handles each fetch of up to ``batch_size`` records whole
    before the next and then commits; a streaming one hands fetched records over as units of
    work and fetches on, with at most ``4 * batch_size`` records in flight (see
    ``shared.kafka.streaming_consumer``)."""
    config = ConsumerConfig(
        servers=settings.kafka_servers,
        topic=settings.topic_prefix + topic,
        group_id=consumer_group(settings.topic_prefix, service, topic),
        client_id=f"linli-{service}",
        membership=settings.membership(service),
        request_timeout_ms=int(settings.publish_timeout_s * 1000) + 1000,
    )
    handling = RecordHandling(
        service=service,
        topic=topic,
        handlers=handlers,
        batch_handlers=batch_handlers or {},
        dead_letters=DeadLetterPolicy(dead_letters, service, topic),
    )
    retry = RetryPolicy(service, topic)
    name = f"{service}:{topic}"
    if streaming:
        return StreamingConsumer(
            config, name, handling, retry, batch_size=batch_size, work_timeout_s=WORK_TIMEOUT_S
        )
    return BatchConsumer(
        config, name, handling, retry, batch_size=batch_size, poll_ms=settings.consumer_poll_ms
    )
