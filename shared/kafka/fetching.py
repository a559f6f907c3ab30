"""The fetch loop every consumer runs on aiokafka's public consumer API, supervised: the loop
that ends for any reason but a stop (an exception, or a cancellation nobody asked for) is
logged and started again on a fresh consumer, and ``alive`` is False until it runs again,
which the service's readiness reports. A consumer that stops silently while the service
says it is ready can not happen."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import ConsumerStoppedError, KafkaError

from shared.kafka.handling import RecordHandling
from shared.kafka.membership import Membership
from shared.kafka.policies import RetryPolicy, log

STOP_TIMEOUT_S = 15.0  # leaving the group; past it the consumer is abandoned (and logged)


@dataclass(frozen=True)
class ConsumerConfig:
    """How one subscription's aiokafka consumer connects and joins its group."""

    servers: list[str]
    topic: str  # with the prefix
    group_id: str
    client_id: str
    membership: Membership = field(default_factory=Membership)
    request_timeout_ms: int = 40_000

    def consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.servers,
            group_id=self.group_id,
            **self.membership.consumer_options(),
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=self.request_timeout_ms,
        )


class FetchLoop:
    """Start, supervise and stop one consumer; subclasses say what a fetch is and what is
    done with it (``fetch_and_handle``), and how a graceful stop finishes (``drain``)."""

    def __init__(
        self,
        config: ConsumerConfig,
        name: str,
        handling: RecordHandling,
        retry: RetryPolicy,
        *,
        batch_size: int,
    ):
        self.config, self.name = config, name
        self.handling, self.retry, self.batch_size = handling, retry, batch_size
        self.consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._running = False
        self.restarts = 0

    @property
    def alive(self) -> bool:
        """Started, not stopping, and its fetch loop running."""
        return self._running and not self._stopping

    async def start(self) -> None:
        """Join the group (raises while Kafka is away: the caller retries), then fetch in the
        background."""
        self._stopping = False
        self.consumer = await self._connected()
        self._running = True  # already, so readiness does not wait for the task's first turn
        self._task = asyncio.create_task(self._supervise(), name=f"consume-{self.name}")

    async def _connected(self) -> AIOKafkaConsumer:
        consumer = self.config.consumer()
        try:
            await consumer.start()
        except BaseException:
            with suppress(Exception):
                await consumer.stop()
            raise
        return consumer

    async def _supervise(self) -> None:
        delay = 0.5
        while not self._stopping:
            self._running = True
            try:
                await self._fetch_forever()
            except asyncio.CancelledError:
                if self._stopping or asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise
                log.error("consumer_loop_cancelled", consumer=self.name)
            except Exception as exc:
                log.error("consumer_loop_failed", consumer=self.name, error=repr(exc), exc_info=exc)
            self._running = False
            if self._stopping:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            await self._reconnect()

    async def _reconnect(self) -> None:
        old, self.consumer = self.consumer, None
        if old is not None:
            await self._stop_consumer(old)
        while not self._stopping:
            try:
                self.consumer = await self._connected()
                self.restarts += 1
                log.warning("consumer_restarted", consumer=self.name, restarts=self.restarts)
                return
            except Exception as exc:
                log.warning("consumer_restart_failed", consumer=self.name, error=repr(exc))
                await asyncio.sleep(2.0)

    async def _fetch_forever(self) -> None:
        while not self._stopping:
            consumer = self.consumer
            if consumer is None:
                return
            try:
                await self.fetch_and_handle(consumer)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:  # the client recovers by itself: wait and fetch again
                log.warning("fetch_failed", consumer=self.name, error=repr(exc))
                await asyncio.sleep(1.0)

    async def fetch_and_handle(self, consumer: AIOKafkaConsumer) -> None:
        raise NotImplementedError

    async def drain(self, timeout_s: float) -> None:
        """For a graceful stop: finish (and commit) the work already taken."""

    async def stop(self, drain_timeout_s: float) -> None:
        """Take no more records, finish what was taken (at most ``drain_timeout_s``), then
        leave the group; bounded, so a stop never hangs the service's shutdown."""
        self._stopping = True
        await self.drain(drain_timeout_s)
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._task
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await self._stop_consumer(consumer)

    async def _stop_consumer(self, consumer: Any) -> None:
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await consumer.stop()
        except Exception as exc:
            log.warning("consumer_stop_failed", consumer=self.name, error=repr(exc))
