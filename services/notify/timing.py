"""Where an event's time goes on its way to a resident, as a Prometheus histogram per stage:

* ``waiting``: from the event's CloudEvents time to its handler starting (Kafka, the
  consumer's fetch and the batch before it);
* ``resident``: reading the resident's preferences and contact;
* ``inbox``: the inbox write (group commit with the other events of the moment);
* ``outcome``: publishing ``notifications.delivered`` and waiting for Kafka's ack.

The offset commit after the batch belongs to the shared consumer and is not counted here.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Histogram

from shared.events import Envelope, utcnow

STAGE_SECONDS = Histogram(
    "linli_notify_stage_seconds",
    "Time an event spends in each stage of its way to a resident.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5),
)


@contextmanager
def stage(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(name).observe(time.perf_counter() - started)


def waited(handler: Callable[[Envelope, Any], Awaitable[str]]):
    """The handler, recording first how long its event waited to reach it."""

    async def timed(envelope: Envelope, event: Any) -> str:
        STAGE_SECONDS.labels("waiting").observe(
            max(0.0, (utcnow() - envelope.time).total_seconds())
        )
        return await handler(envelope, event)

    return timed
