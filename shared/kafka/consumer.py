"""Reliable consumption: offsets committed only after the side effect, poison messages to the
dead-letter topic, transient failures retried with back-off without losing the message.

A handler receives the envelope and the validated payload and may return an outcome label
for the metrics (e.g. "duplicate"). A consumer never retries a record that can never succeed:
an exception the handler raises is classified (``shared.kafka.failures``). Only a transient
one (Kafka or the network away, a timeout, MongoDB unreachable, a ``TransientError`` the
handler raises on purpose) makes the consumer wait (exponential back-off) and try the same
record again; anything else (``PoisonMessage``, a validation error, a bug) sends the record to
the dead-letter topic at once with its error, and the records after it go on. While a record
is being retried, the gauge ``linli_consumer_stuck_seconds`` says for how long.

A batch handler receives every event of its type in a fetched batch at once, in offset
order, so it can write them with a few bulk operations; it answers one outcome per event,
where a ``PoisonMessage`` instance dead-letters that event alone. A transient exception fails
the whole batch (back-off, then the same records again); any other exception runs the batch's
events again one by one, so only the event that fails alone is dead-lettered.

A streaming consumer (``streaming=True``) does not wait for its work to end before fetching
more. With single-event handlers only, each record is handed to its own task as soon as it is
fetched, chained behind the previous record of its key (order per key, keys concurrent). With
batch handlers, each partition's share of a fetched batch is one unit of work (processed as a
batch is, above), chained behind that partition's previous unit: partitions go on side by
side and a partition's next records are fetched while its last ones are still being written.
A transient failure backs off and runs the same record or unit again in place; so does an
attempt still unfinished after ``WORK_TIMEOUT_S`` (it is cancelled): an attempt that hangs,
whatever it waits on, can not stall its partition (and, once the records in flight reach
the bound, the whole consumer) for good. Each partition's offset is committed, off the fetch
path, up to the last record whose work and that of every record before it is done. On a
graceful stop the consumer takes no more records and finishes and commits what it has taken
(``drain``); work left unfinished (a crash, or the drain's time running out) stays
uncommitted, so it is redelivered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import suppress
from functools import partial
from itertools import chain
from typing import Any

from aiokafka import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from pydantic import ValidationError

from shared.events import PAYLOADS_BY_TYPE, Envelope, EventPayload
from shared.kafka.dead_letters import DeadLetters
from shared.kafka.failures import (
    STUCK_AFTER_S,
    StuckWatch,
    TransientError,
    failure_text,
    is_transient,
)
from shared.kafka.membership import Membership
from shared.logging import get_logger
from shared.metrics import EVENT_SECONDS, EVENTS_CONSUMED

Handler = Callable[[Envelope, EventPayload], Awaitable[str | None]]
Item = tuple[Envelope, EventPayload]
BatchHandler = Callable[[list[Item]], Awaitable[list["str | PoisonMessage | None"]]]
Unit = tuple[Any, list[Any], Callable[[], Awaitable[None]]]  # chain key, records, work
log = get_logger("linli.consumer")
__all__ = ["PoisonMessage", "TransientError", "decode", "subscribe"]
WORK_TIMEOUT_S = 60.0  # a streaming unit's attempt unfinished by then is retried


class WorkTimedOut(TransientError):
    """A streaming unit's attempt did not finish in time: cancelled, and retried."""


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


@dataclasses.dataclass(frozen=True)
class _Fetched:
    records: tuple[Any, ...]
    consumer: Any


async def _raw_records(message: KafkaMessage) -> _Fetched:
    """The handler's argument: the fetched records themselves, undecoded (``decode``
    validates them, so bad JSON becomes a dead letter instead of an exception inside the
    framework), and the consumer they came from. Handing them over as the body keeps the
    framework's dependency injection out of the way: resolving a ``Context`` parameter costs a
    worker-thread round trip per call."""
    records = message.raw_message
    return _Fetched(
        records if isinstance(records, tuple) else (records,), getattr(message, "consumer", None)
    )


def _utf8_headers(record: Any) -> Any:
    """The framework decodes header values as UTF-8 before any handler runs; a record with a
    binary header would fail there forever, so such values are made readable here (and the
    record then dead-letters on its bad envelope)."""
    try:
        for _, value in record.headers or ():
            value.decode()
        return record
    except UnicodeDecodeError:
        fixed = [(k, v.decode("utf-8", "replace").encode()) for k, v in record.headers]
        return dataclasses.replace(record, headers=fixed)


async def _safe_parse(records: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    if isinstance(records, tuple):
        return await original(tuple(_utf8_headers(r) for r in records))
    return await original(_utf8_headers(records))


def log_retry(
    event: str,
    topic: str,
    records: Iterable[Any],
    error: BaseException,
    delay: float,
    stuck_s: float,
) -> None:
    """A transient failure, retried after ``delay``; an error once it has lasted too long."""
    records = list(records)
    emit = log.error if stuck_s >= STUCK_AFTER_S else log.warning
    emit(
        event,
        topic=topic,
        partition=records[0].partition,
        offset=records[0].offset,
        size=len(records),
        error=repr(error),
        delay=delay,
        stuck_s=round(stuck_s, 1),
    )


def _by_key(pairs: Iterable[tuple[Any, Any]]) -> list[list[tuple[Any, Any]]]:
    """(record, item) pairs grouped by record key, each group in offset order (order
    matters only per key)."""
    groups: dict[Any, list[tuple[Any, Any]]] = {}
    for pair in pairs:
        groups.setdefault((pair[0].partition, pair[0].key), []).append(pair)
    return list(groups.values())


class _Stream:
    """The work of one streaming subscription in flight: one task per unit (a record, or a
    partition's share of a fetched batch), chained behind the previous unit of its chain key;
    ``take`` returns at once unless ``max_in_flight`` records are unfinished (then the fetch
    loop waits, which bounds memory)."""

    def __init__(
        self,
        *,
        service: str,
        topic: str,
        backoff: Backoff,
        stuck: StuckWatch,
        max_in_flight: int,
        commit_delay_s: float = 0.1,
        work_timeout_s: float = WORK_TIMEOUT_S,
    ):
        self._service, self._topic = service, topic
        self._work_timeout_s = work_timeout_s
        self._backoff = backoff
        self._stuck = stuck
        self._max = max_in_flight
        self._commit_delay_s = commit_delay_s
        self._consumer: Any = None
        self._last: dict[Any, asyncio.Task[None]] = {}  # chain key -> latest task
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0  # records
        self._room = asyncio.Event()
        self._room.set()
        self._pending: dict[TopicPartition, deque[list[Any]]] = {}  # [offset, done], fetched
        self._ready: dict[TopicPartition, int] = {}  # offsets to commit next
        self._committer: asyncio.Task[None] | None = None
        self._dirty = False
        self._draining = False

    async def take(self, consumer: Any, units: Iterable[Unit]) -> None:
        if self._draining:  # stopping: left uncommitted, so redelivered after the restart
            return
        if consumer is not self._consumer:  # a new consumer starts from committed offsets
            self._consumer, self._pending, self._ready = consumer, {}, {}
        for key, records, work in units:  # a unit's records are of one partition
            pending = self._pending.setdefault(
                TopicPartition(records[0].topic, records[0].partition), deque()
            )
            entries = [[record.offset, False] for record in records]
            pending.extend(entries)
            task = asyncio.create_task(
                self._run(consumer, self._last.get(key), records, work, entries)
            )
            self._last[key] = task
            self._tasks.add(task)
            self._in_flight += len(records)
            task.add_done_callback(
                lambda done, key=key, n=len(records): self._finished(key, done, n)
            )
        while self._in_flight >= self._max:
            self._room.clear()
            await self._room.wait()

    def _finished(self, key: Any, task: asyncio.Task[None], records: int) -> None:
        self._tasks.discard(task)
        self._in_flight -= records
        if self._last.get(key) is task:
            del self._last[key]
        if self._in_flight < self._max:
            self._room.set()

    async def _run(
        self,
        consumer: Any,
        previous: asyncio.Task[None] | None,
        records: list[Any],
        work: Callable[[], Awaitable[None]],
        entries: list[list[Any]],
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        key = (records[0].partition, records[0].offset)
        try:
            await self._work_until_done(consumer, records, work, entries, key)
        finally:
            self._stuck.done(key)

    async def _work_until_done(
        self,
        consumer: Any,
        records: list[Any],
        work: Callable[[], Awaitable[None]],
        entries: list[list[Any]],
        key: tuple[int, int],
    ) -> None:
        """Run the work, again after each (transient) failure, until it is done or the
        consumer closes (then its records stay uncommitted)."""
        while not consumer._closed:
            try:
                await self._attempt(work)
            except Exception as exc:
                error = exc.exceptions[0] if isinstance(exc, ExceptionGroup) else exc
                EVENTS_CONSUMED.labels(self._service, self._topic, "retry").inc()
                delay = self._backoff.next_delay()
                event = "retrying_record" if len(records) == 1 else "retrying_batch"
                log_retry(event, self._topic, records, error, delay, self._stuck.failed(key))
                await asyncio.sleep(delay)
                continue
            self._backoff.reset()
            for entry in entries:
                entry[1] = True
            self._dirty = True
            if self._committer is None or self._committer.done():
                self._committer = asyncio.create_task(self._commit_loop(consumer))
            return

    async def _attempt(self, work: Callable[[], Awaitable[None]]) -> None:
        """One attempt at a unit's work, cancelled if unfinished after the work timeout."""
        deadline = asyncio.timeout(self._work_timeout_s)
        try:
            async with deadline:
                await work()
        except TimeoutError:
            if deadline.expired():
                raise WorkTimedOut(f"unfinished after {self._work_timeout_s:g} s") from None
            raise

    async def drain(self, timeout_s: float) -> None:
        """For a graceful stop, before the consumer closes: take no more records, let the
        work in flight finish (at most ``timeout_s``) and commit it, so the restart redelivers
        only what was not done."""
        self._draining = True
        consumer = self._consumer
        if consumer is None or consumer._closed:
            return
        with suppress(Exception):  # only fewer fetches: the fetched records are not taken
            consumer.pause(*consumer.assignment())
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
        try:
            await self._commit_done(consumer)
        except Exception as exc:  # redelivered then, and the handlers' idempotency absorbs it
            log.warning("final_commit_failed", topic=self._topic, error=repr(exc))

    async def _commit_loop(self, consumer: Any) -> None:
        """Commit what is done, a little later (so one commit covers many records), until
        nothing more is done; off the fetch path, so no record waits for it."""
        while self._dirty and not consumer._closed:
            self._dirty = False
            await asyncio.sleep(self._commit_delay_s)
            if consumer is not self._consumer:
                return
            try:
                await self._commit_done(consumer)
            except Exception as exc:  # kept in _ready: the next commit carries them
                log.warning("commit_failed", topic=self._topic, error=repr(exc))
                self._dirty = True
                await asyncio.sleep(self._backoff.first_s)

    async def _commit_done(self, consumer: Any) -> None:
        """Commit each partition up to its last record done along with all before it."""
        for tp, entries in self._pending.items():
            while entries and entries[0][1]:
                self._ready[tp] = entries.popleft()[0] + 1
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self._ready.items() if tp in assigned}
        self._ready = dict(offsets)  # a revoked partition is its new owner's to commit
        if not offsets:
            return
        await consumer.commit(offsets)
        for tp, offset in offsets.items():
            if self._ready.get(tp) == offset:
                del self._ready[tp]


def consumer_group(prefix: str, service: str, topic: str) -> str:
    """One consumer group per (service, topic): a replica joining or leaving rebalances only
    the groups of the topics it reads, and never stops its other consumers. The topic
    prefix isolates groups the way it isolates topics."""
    return f"{prefix}linli-{service}.{topic}"


def subscribe(
    broker: KafkaBroker,
    *,
    service: str,
    topic: str,
    prefix: str,
    handlers: Mapping[type[EventPayload], Handler],
    dead_letters: DeadLetters,
    batch_handlers: Mapping[type[EventPayload], BatchHandler] | None = None,
    group_id: str | None = None,
    description: str = "",
    batch_size: int = 100,
    poll_ms: int = 20,
    parallel_keys: bool = True,
    streaming: bool = False,
    membership: Membership | None = None,
) -> Callable[[float], Awaitable[None]] | None:
    """Register a consumer of ``topic`` in its own consumer group; ``handlers`` and
    ``batch_handlers`` say which payload types it processes (other platform events on the
    topic are skipped).

    Records arrive in batches of up to ``batch_size``; the offsets are committed once the
    whole batch is processed. The events for batch handlers go first, each type's in one
    call; then, with ``parallel_keys``, records of different keys are processed concurrently
    and those of one key in order. A transient failure anywhere rewinds the batch, and the
    handlers' idempotency absorbs the replay of what had succeeded. An idle consumer waits
    ``poll_ms`` for records, then pauses as long before asking again (the framework's
    rhythm), so that bounds the extra wait of an event reaching an idle consumer.

    With ``streaming``, records are processed as they are fetched instead of batch by batch
    (see the module's docstring): one by one, or with batch handlers each partition's share of
    a fetch as a unit; at most ``4 * batch_size`` records are in flight, and ``poll_ms`` does
    not apply (the fetch waits for records and returns as soon as any arrive). It returns the
    consumer's ``drain(timeout_s)``, to be awaited on a graceful stop before the broker stops
    (a batch consumer's batch in progress is finished by the framework itself).

    ``membership`` names the consumer as a static member of its group (restarted under the
    same name it gets its partitions back at once, without a rebalance; stopped, it keeps them
    until its session times out) and sets its session's timing (see ``membership.py``).
    """
    batch_handlers = dict(batch_handlers or {})
    accepted = {model.event_type: model for model in (*handlers, *batch_handlers)}
    by_type = {model.event_type: handler for model, handler in handlers.items()}
    batched = {model.event_type: handler for model, handler in batch_handlers.items()}
    consumer_name = f"{service}:{topic}"
    backoff = Backoff()
    stuck = StuckWatch(service, topic)

    def count(outcome: str, seconds: float, n: int = 1) -> None:
        EVENTS_CONSUMED.labels(service, topic, outcome).inc(n)
        EVENT_SECONDS.labels(service, topic).observe(seconds)

    async def dead_letter(record: Any, exc: BaseException) -> None:
        """Send the record to the dead-letter topic with its error (a ``PoisonMessage``'s
        text, or another exception's type and text, logged with its traceback)."""
        poison = isinstance(exc, PoisonMessage)
        error = str(exc) if poison else failure_text(exc)
        where = {"topic": topic, "partition": record.partition, "offset": record.offset}
        if poison:
            log.warning("dead_letter", **where, error=error)
        else:
            log.error("dead_letter", **where, error=error, exc_info=exc)
        await dead_letters.send(record, consumer_name, error)
        EVENTS_CONSUMED.labels(service, topic, "dead_letter").inc()

    def decoded(record: Any) -> Item | PoisonMessage | None:
        try:
            return decode(record.headers, record.value, accepted)
        except PoisonMessage as exc:
            return exc

    async def process(record: Any, item: Item | PoisonMessage | None) -> None:
        started = time.perf_counter()
        try:
            if isinstance(item, PoisonMessage):
                raise item
            outcome = "skipped" if item is None else await by_type[item[0].type](*item) or "ok"
        except Exception as exc:
            if is_transient(exc):
                raise
            await dead_letter(record, exc)
            return
        count(outcome, time.perf_counter() - started)

    async def process_batched(event_type: str, pairs: list[tuple[Any, Item]]) -> None:
        started = time.perf_counter()
        try:
            outcomes = await batched[event_type]([item for _, item in pairs])
            if len(outcomes) != len(pairs):
                raise RuntimeError(
                    f"batch handler for {event_type} answered {len(outcomes)} of {len(pairs)}"
                )
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(pairs) == 1:
                await dead_letter(pairs[0][0], exc)
                return
            log.warning("batch_failed_one_by_one", topic=topic, error=failure_text(exc))
            for pair in pairs:  # only the event that fails alone is a dead letter
                await process_batched(event_type, [pair])
            return
        seconds = (time.perf_counter() - started) / len(pairs)
        for (record, _), outcome in zip(pairs, outcomes, strict=True):
            if isinstance(outcome, PoisonMessage):
                await dead_letter(record, outcome)
            else:
                count(outcome or "ok", seconds)

    async def process_in_order(pairs: list[tuple[Any, Item | PoisonMessage | None]]) -> None:
        for record, item in pairs:
            await process(record, item)

    async def process_all(records: tuple[Any, ...]) -> None:
        singles: list[tuple[Any, Item | PoisonMessage | None]] = []
        groups: dict[str, list[tuple[Any, Item]]] = {}
        for record in records:
            item = decoded(record)
            if isinstance(item, tuple) and item[0].type in batched:
                groups.setdefault(item[0].type, []).append((record, item))
            else:
                singles.append((record, item))
        for event_type, pairs in groups.items():
            await process_batched(event_type, pairs)
        if parallel_keys and len(singles) > 1:
            async with asyncio.TaskGroup() as group:
                for same_key in _by_key(singles):
                    group.create_task(process_in_order(same_key))
        else:
            await process_in_order(singles)

    async def consume(fetched: Any) -> None:
        records = fetched.records
        try:
            await process_all(records)
        except Exception as exc:
            error = exc.exceptions[0] if isinstance(exc, ExceptionGroup) else exc
            EVENTS_CONSUMED.labels(service, topic, "retry").inc()
            delay = backoff.next_delay()
            log_retry("retrying_batch", topic, records, error, delay, stuck.failed("batch"))
            await asyncio.sleep(delay)
            raise error from None
        stuck.done("batch")
        backoff.reset()

    stream = _Stream(
        service=service,
        topic=topic,
        backoff=backoff,
        stuck=stuck,
        max_in_flight=4 * batch_size,
        work_timeout_s=WORK_TIMEOUT_S,
    )

    def units(records: tuple[Any, ...]) -> list[Unit]:
        if not batched:  # one record each, chained per key
            return [((r.partition, r.key), [r], partial(process, r, decoded(r))) for r in records]
        shares: dict[int, list[Any]] = {}
        for record in records:
            shares.setdefault(record.partition, []).append(record)
        return [
            ((partition,), share, partial(process_all, tuple(share)))
            for partition, share in shares.items()
        ]

    async def consume_streaming(fetched: Any) -> None:
        await stream.take(fetched.consumer, units(fetched.records))

    if streaming:
        consume = consume_streaming
    consume.__name__ = f"consume_{topic.replace('.', '_').replace('-', '_')}"
    subscriber = broker.subscriber(
        prefix + topic,
        group_id=group_id or consumer_group(prefix, service, topic),
        **(membership or Membership()).consumer_options(),
        ack_policy=AckPolicy.MANUAL if streaming else AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        batch=True,
        max_records=batch_size,
        batch_timeout_ms=poll_ms,
        decoder=_raw_records,
        parser=_safe_parse,
        title=f"{prefix + topic}:{service}",
        description=description or f"{service} consumes {topic}",
    )
    subscriber(consume)
    if streaming:

        async def fetch_without_pause(consumer: Any) -> tuple[Any, ...]:
            """The framework's batch fetch, minus its pause after an empty poll: a streaming
            consumer is never busy with a batch, so it waits for records in the fetch itself
            (woken as soon as any arrive)."""
            batches = await consumer.getmany(timeout_ms=1000, max_records=batch_size)
            return tuple(chain.from_iterable(batches.values()))

        subscriber.get_msg = fetch_without_pause
        return stream.drain
    return None
