"""The streaming consumer: it does not wait for its work to end before fetching more.

Each fetch is cut into units of work: with single-event handlers one unit per record,
chained behind the previous record of its key (order per key, keys concurrent); with batch
handlers one unit per partition's share of the fetch, chained behind that partition's
previous unit (partitions side by side, a partition's next records fetched while its last
ones are still being written). At most ``max_in_flight`` records are unfinished (then the
fetch waits, which bounds memory).

A transient failure backs off and runs the same unit again in place; so does an attempt
still unfinished after ``work_timeout_s`` (it is cancelled): an attempt that hangs, whatever
it waits on, can not stall its partition for good. Each partition's offset is committed, off
the fetch path, up to the last record whose work and that of every record before it is done.
On a graceful stop the consumer takes no more records and finishes and commits what it has
taken (``drain``); work left unfinished stays uncommitted, so it is redelivered."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from contextlib import suppress
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.kafka.failures import TransientError
from shared.kafka.fetching import FetchLoop
from shared.kafka.policies import log

Unit = tuple[Hashable, list[Any], Callable[[], Awaitable[None]]]  # chain key, records, work


class WorkTimedOut(TransientError):
    """A streaming unit's attempt did not finish in time: cancelled, and retried."""


class StreamingConsumer(FetchLoop):
    def __init__(
        self, *args: Any, work_timeout_s: float, commit_delay_s: float = 0.1, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self._max = 4 * self.batch_size
        self._work_timeout_s, self._commit_delay_s = work_timeout_s, commit_delay_s
        self._taken_by: Any = None  # the consumer the offsets below belong to
        self._last: dict[Hashable, asyncio.Task[None]] = {}  # chain key -> latest task
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0  # records
        self._room = asyncio.Event()
        self._room.set()
        self._pending: dict[TopicPartition, deque[list[Any]]] = {}  # [offset, done], fetched
        self._ready: dict[TopicPartition, int] = {}  # offsets to commit next
        self._committer: asyncio.Task[None] | None = None
        self._dirty = False

    async def fetch_and_handle(self, consumer: AIOKafkaConsumer) -> None:
        """Wait for records in the fetch itself (woken as soon as any arrive), hand them
        over as units, and wait only while too many are in flight."""
        fetched = await consumer.getmany(timeout_ms=1000, max_records=self.batch_size)
        records = [record for batch in fetched.values() for record in batch]
        if records and not self._stopping:  # stopping: left uncommitted, so redelivered
            self._take(consumer, self._units(records))
        while self._in_flight >= self._max and not self._stopping:
            self._room.clear()
            await self._room.wait()

    def _units(self, records: list[Any]) -> list[Unit]:
        handling = self.handling
        if not handling.batched:  # one record each, chained per key
            return [
                ((r.partition, r.key), [r], partial(handling.one, r, handling.decoded(r)))
                for r in records
            ]
        shares: dict[int, list[Any]] = {}
        for record in records:
            shares.setdefault(record.partition, []).append(record)
        return [
            ((partition,), share, partial(handling.all, share))
            for partition, share in shares.items()
        ]

    def _take(self, consumer: AIOKafkaConsumer, units: Iterable[Unit]) -> None:
        if consumer is not self._taken_by:  # a new consumer starts from committed offsets
            self._taken_by, self._pending, self._ready = consumer, {}, {}
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

    def _finished(self, key: Hashable, task: asyncio.Task[None], records: int) -> None:
        self._tasks.discard(task)
        self._in_flight -= records
        if self._last.get(key) is task:
            del self._last[key]
        if self._in_flight < self._max:
            self._room.set()

    async def _run(
        self,
        consumer: AIOKafkaConsumer,
        previous: asyncio.Task[None] | None,
        records: list[Any],
        work: Callable[[], Awaitable[None]],
        entries: list[list[Any]],
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        key = (records[0].partition, records[0].offset)
        try:
            await self._until_done(consumer, records, work, entries, key)
        finally:
            self.retry.stuck.done(key)

    async def _until_done(
        self,
        consumer: AIOKafkaConsumer,
        records: list[Any],
        work: Callable[[], Awaitable[None]],
        entries: list[list[Any]],
        key: Hashable,
    ) -> None:
        """Run the work, again after each (transient) failure, until it is done or its
        consumer is gone (then its records stay uncommitted)."""
        event = "retrying_record" if len(records) == 1 else "retrying_batch"
        while self.consumer is consumer:
            try:
                await self._attempt(work)
            except Exception as exc:
                await self.retry.failed(key, records, exc, event)
                continue
            self.retry.succeeded(key)
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
        """Before the consumer leaves: take no more records, let the work in flight finish
        (at most ``timeout_s``) and commit it, so the restart redelivers only what was not
        done; what is still unfinished then is cancelled."""
        consumer = self.consumer
        if consumer is None:
            return
        with suppress(Exception):  # only fewer fetches: the fetched records are not taken
            consumer.pause(*consumer.assignment())
        self._room.set()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
        try:
            await self._commit_done(consumer)
        except Exception as exc:  # redelivered then, and the handlers' idempotency absorbs it
            log.warning("final_commit_failed", topic=self.config.topic, error=repr(exc))
        for task in (*self._tasks, self._committer):
            if task is not None:
                task.cancel()

    async def _commit_loop(self, consumer: AIOKafkaConsumer) -> None:
        """Commit what is done, a little later (so one commit covers many records), until
        nothing more is done; off the fetch path, so no record waits for it."""
        while self._dirty and self.consumer is consumer:
            self._dirty = False
            await asyncio.sleep(self._commit_delay_s)
            if consumer is not self._taken_by or self.consumer is not consumer:
                return
            try:
                await self._commit_done(consumer)
            except Exception as exc:  # kept in _ready: the next commit carries them
                log.warning("commit_failed", topic=self.config.topic, error=repr(exc))
                self._dirty = True
                await asyncio.sleep(self.retry.backoff.first_s)

    async def _commit_done(self, consumer: AIOKafkaConsumer) -> None:
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
