"""What a consumer does when a record's work fails: the retry policy (transient failures:
back off and try the same work again, measured by ``linli_consumer_stuck_seconds``) and the
dead-letter policy (anything else: to ``dlq.<service>`` at once, with its error). Which
failures are transient is ``shared.kafka.failures``'s to say."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from shared.kafka.dead_letters import DeadLetters
from shared.kafka.decoding import PoisonMessage
from shared.kafka.failures import STUCK_AFTER_S, StuckWatch, TransientError, failure_text
from shared.logging import get_logger
from shared.metrics import EVENTS_CONSUMED

log = get_logger("linli.consumer")
T = TypeVar("T")


class StrayCancellation(TransientError):
    """A ``CancelledError`` that reached the handler's caller although nobody cancelled the
    consumer's task (a future inside a client library was cancelled under it). Left alone it
    would end the work as if done, or end the task silently; it is a failure worth retrying."""


async def guarded(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work``; a cancellation of this task passes, a stray one becomes a retry."""
    try:
        return await work()
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise StrayCancellation("cancelled from inside, not by a stop") from exc


class Backoff:
    """Exponential back-off for one consumer, reset by the first success."""

    def __init__(self, first_s: float = 0.2, max_s: float = 10.0):
        self.first_s, self.max_s, self.failures = first_s, max_s, 0

    def next_delay(self) -> float:
        self.failures += 1
        return min(self.max_s, self.first_s * 2 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures = 0


class RetryPolicy:
    """Back-off and the stuck gauge of one subscription: ``failed`` logs a transient failure
    of a piece of work and waits before its next attempt; ``succeeded`` ends the wait."""

    def __init__(self, service: str, topic: str):
        self._service, self._topic = service, topic
        self.backoff = Backoff()
        self.stuck = StuckWatch(service, topic)

    async def failed(
        self, work: Hashable, records: Sequence[Any], error: BaseException, event: str
    ) -> None:
        if isinstance(error, ExceptionGroup):
            error = error.exceptions[0]
        EVENTS_CONSUMED.labels(self._service, self._topic, "retry").inc()
        delay = self.backoff.next_delay()
        stuck_s = self.stuck.failed(work)
        emit = log.error if stuck_s >= STUCK_AFTER_S else log.warning
        emit(
            event,
            topic=self._topic,
            partition=records[0].partition,
            offset=records[0].offset,
            size=len(records),
            error=repr(error),
            delay=delay,
            stuck_s=round(stuck_s, 1),
        )
        await asyncio.sleep(delay)

    def succeeded(self, work: Hashable) -> None:
        self.stuck.done(work)
        self.backoff.reset()


class DeadLetterPolicy:
    """Sends a record that can never be processed to the dead-letter topic with its error (a
    ``PoisonMessage``'s text, or another exception's type and text, logged with its
    traceback), and counts it."""

    def __init__(self, dead_letters: DeadLetters, service: str, topic: str):
        self._dead_letters, self._service, self._topic = dead_letters, service, topic
        self._consumer = f"{service}:{topic}"

    async def send(self, record: Any, exc: BaseException) -> None:
        poison = isinstance(exc, PoisonMessage)
        error = str(exc) if poison else failure_text(exc)
        where = {"topic": self._topic, "partition": record.partition, "offset": record.offset}
        if poison:
            log.warning("dead_letter", **where, error=error)
        else:
            log.error("dead_letter", **where, error=error, exc_info=exc)
        await self._dead_letters.send(record, self._consumer, error)
        EVENTS_CONSUMED.labels(self._service, self._topic, "dead_letter").inc()
