"""The batch consumer: fetch up to ``batch_size`` records, handle them all, commit, fetch
again. A transient failure anywhere rewinds every partition of the batch to its first record
(after the retry policy's back-off), and the handlers' idempotency absorbs the replay of what
had succeeded. An idle consumer waits ``poll_ms`` for records, then pauses as long before
asking again, which bounds the extra wait of an event reaching an idle consumer."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.kafka.fetching import FetchLoop
from shared.kafka.policies import log

BATCH = "batch"  # the retry policy's name for the batch in hand


class BatchConsumer(FetchLoop):
    def __init__(self, *args: Any, poll_ms: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._poll_ms = poll_ms
        self._idle = asyncio.Event()
        self._idle.set()

    async def fetch_and_handle(self, consumer: AIOKafkaConsumer) -> None:
        fetched = await consumer.getmany(timeout_ms=self._poll_ms, max_records=self.batch_size)
        records = [record for batch in fetched.values() for record in batch]
        if self._stopping:  # left uncommitted: the next owner of the partitions takes them
            return
        if not records:
            await asyncio.sleep(self._poll_ms / 1000)
            return
        self._idle.clear()
        try:
            await self._handle(consumer, records)
        finally:
            self._idle.set()

    async def _handle(self, consumer: AIOKafkaConsumer, records: list[Any]) -> None:
        try:
            await self.handling.all(records)
        except Exception as exc:
            await self.retry.failed(BATCH, records, exc, "retrying_batch")
            self._rewind(consumer, records)
            return
        self.retry.succeeded(BATCH)
        try:
            await consumer.commit()
        except Exception as exc:  # redelivered then, and the handlers' idempotency absorbs it
            log.warning("commit_failed", topic=self.config.topic, error=repr(exc))

    @staticmethod
    def _rewind(consumer: AIOKafkaConsumer, records: list[Any]) -> None:
        """Each partition of the batch back to its first record, so it is fetched again."""
        first: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            first[tp] = min(first.get(tp, record.offset), record.offset)
        assigned = consumer.assignment()
        for tp, offset in first.items():
            if tp in assigned:  # a revoked partition restarts from its committed offset
                consumer.seek(tp, offset)

    async def drain(self, timeout_s: float) -> None:
        """The batch in hand is finished and committed before the consumer leaves."""
        with suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
