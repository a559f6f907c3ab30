"""What a subscription does with fetched records, whatever fetches them: decode each, hand it
to its handler (or its type's batch handler), count the outcome, and apply the dead-letter
policy to what can never succeed; a transient failure is raised for the consumer to retry.

A batch handler receives every event of its type among the records at once, in offset
order, and answers one outcome per event, where a ``PoisonMessage`` dead-letters that event
alone. Any other non-transient exception runs the events again one by one, so only the event
that fails alone is dead-lettered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from shared.events import Envelope, EventPayload
from shared.kafka.decoding import Item, PoisonMessage, decode
from shared.kafka.failures import failure_text, is_transient
from shared.kafka.policies import DeadLetterPolicy, guarded, log
from shared.metrics import EVENT_SECONDS, EVENTS_CONSUMED

Handler = Callable[[Envelope, EventPayload], Awaitable[str | None]]
BatchHandler = Callable[[list[Item]], Awaitable[list["str | PoisonMessage | None"]]]
Decoded = Item | PoisonMessage | None


def by_key(pairs: Iterable[tuple[Any, Any]]) -> list[list[tuple[Any, Any]]]:
    """(record, item) pairs grouped by partition and record key, each group in offset order
    (order matters only per key)."""
    groups: dict[Any, list[tuple[Any, Any]]] = {}
    for pair in pairs:
        groups.setdefault((pair[0].partition, pair[0].key), []).append(pair)
    return list(groups.values())


class RecordHandling:
    """One subscription's handlers and how their outcomes are counted and dead-lettered."""

    def __init__(
        self,
        *,
        service: str,
        topic: str,
        handlers: Mapping[type[EventPayload], Handler],
        batch_handlers: Mapping[type[EventPayload], BatchHandler],
        dead_letters: DeadLetterPolicy,
        parallel_keys: bool = True,
    ):
        self._service, self._topic = service, topic
        self._accepted = {model.event_type: model for model in (*handlers, *batch_handlers)}
        self._single = {model.event_type: handler for model, handler in handlers.items()}
        self.batched = {model.event_type: handler for model, handler in batch_handlers.items()}
        self._dead_letters = dead_letters
        self._parallel_keys = parallel_keys

    def _count(self, outcome: str, seconds: float) -> None:
        EVENTS_CONSUMED.labels(self._service, self._topic, outcome).inc()
        EVENT_SECONDS.labels(self._service, self._topic).observe(seconds)

    def decoded(self, record: Any) -> Decoded:
        try:
            return decode(record.headers, record.value, self._accepted)
        except PoisonMessage as exc:
            return exc

    async def one(self, record: Any, item: Decoded) -> None:
        """One record through its single-event handler."""
        started = time.perf_counter()
        try:
            if isinstance(item, PoisonMessage):
                raise item
            if item is None:
                outcome = "skipped"
            else:
                handler = self._single[item[0].type]
                outcome = await guarded(lambda: handler(*item)) or "ok"
        except Exception as exc:
            if is_transient(exc):
                raise
            await self._dead_letters.send(record, exc)
            return
        self._count(outcome, time.perf_counter() - started)

    async def batch(self, event_type: str, pairs: list[tuple[Any, Item]]) -> None:
        """The events of one type through its batch handler."""
        started = time.perf_counter()
        try:
            handler = self.batched[event_type]
            outcomes = await guarded(lambda: handler([item for _, item in pairs]))
            if len(outcomes) != len(pairs):
                raise RuntimeError(
                    f"batch handler for {event_type} answered {len(outcomes)} of {len(pairs)}"
                )
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(pairs) == 1:
                await self._dead_letters.send(pairs[0][0], exc)
                return
            log.warning("batch_failed_one_by_one", topic=self._topic, error=failure_text(exc))
            for pair in pairs:  # only the event that fails alone is a dead letter
                await self.batch(event_type, [pair])
            return
        seconds = (time.perf_counter() - started) / len(pairs)
        for (record, _), outcome in zip(pairs, outcomes, strict=True):
            if isinstance(outcome, PoisonMessage):
                await self._dead_letters.send(record, outcome)
            else:
                self._count(outcome or "ok", seconds)

    async def in_order(self, pairs: Sequence[tuple[Any, Decoded]]) -> None:
        for record, item in pairs:
            await self.one(record, item)

    async def all(self, records: Sequence[Any]) -> None:
        """Records of one fetch: the batch handlers' events first, each type's in one call;
        then the others, keys side by side (with ``parallel_keys``) and each key in order."""
        singles: list[tuple[Any, Decoded]] = []
        groups: dict[str, list[tuple[Any, Item]]] = {}
        for record in records:
            item = self.decoded(record)
            if isinstance(item, tuple) and item[0].type in self.batched:
                groups.setdefault(item[0].type, []).append((record, item))
            else:
                singles.append((record, item))
        for event_type, pairs in groups.items():
            await self.batch(event_type, pairs)
        if self._parallel_keys and len(singles) > 1:
            async with asyncio.TaskGroup() as group:
                for same_key in by_key(singles):
                    group.create_task(self.in_order(same_key))
        else:
            await self.in_order(singles)
