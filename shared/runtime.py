"""A service's life: bring up topics, indexes and the broker (retrying while a dependency is
down), probe Kafka and MongoDB for readiness, and stop gracefully.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from aiokafka.client import AIOKafkaClient
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from shared.kafka.admin import apply_with_settings
from shared.kafka.fetching import FetchLoop
from shared.logging import get_logger
from shared.metrics import DEPENDENCY_UP
from shared.settings import Settings
from shared.topics import Topic

log = get_logger("linli.runtime")
DRAIN_TIMEOUT_S = 10.0  # of a stop's grace period (Compose gives the services 30 s)


@dataclass
class Readiness:
    started: bool = False
    kafka: bool = False
    mongodb: bool = False
    consuming: bool = True  # every consumer's fetch loop runs
    detail: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.started and self.kafka and self.mongodb and self.consuming


class ServiceRuntime:
    def __init__(
        self,
        *,
        settings: Settings,
        service: str,
        broker: KafkaBroker,
        mongo: AsyncMongoClient,
        topics: list[Topic],
        prepare_db: Callable[[], Awaitable[None]],
        consumers: Sequence[FetchLoop] = (),
    ):
        self.settings = settings
        self.service = service
        self.broker = broker
        self.mongo = mongo
        self._topics = topics
        self._probe_topic = settings.topic_prefix + (topics[0].name if topics else "")
        self._prepare_db = prepare_db
        self._consumers = consumers
        self.readiness = Readiness()
        self._tasks: list[asyncio.Task] = []
        self._probe_client: AIOKafkaClient | None = None

    async def start(self) -> None:
        """Return at once; the service comes up in the background and says so in /readyz."""
        self._tasks = [
            asyncio.create_task(self._bring_up(), name=f"{self.service}-bring-up"),
            asyncio.create_task(self._probe_forever(), name=f"{self.service}-probes"),
        ]

    async def _bring_up(self) -> None:
        delay = 0.5
        while True:
            try:
                await apply_with_settings(self.settings, self._topics)
                await self._prepare_db()
                await self.broker.start()
                await self._start_consumers()
            except Exception as exc:
                log.warning("bring_up_failed", error=repr(exc), retry_in=delay)
                await self._stop_consumers()
                with suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.readiness.started = True
            log.info("service_started", service=self.service)
            await self._probe_once()
            return

    async def _start_consumers(self) -> None:
        async with asyncio.TaskGroup() as group:
            for consumer in self._consumers:
                if not consumer.alive:
                    group.create_task(consumer.start())

    async def _stop_consumers(self) -> None:
        """Streaming consumers finish and commit their work in flight, and a batch
        consumer its batch, while Kafka and the database are still connected."""
        await asyncio.gather(
            *(consumer.stop(DRAIN_TIMEOUT_S) for consumer in self._consumers),
            return_exceptions=True,
        )

    def _check_consumers(self) -> None:
        r = self.readiness
        stopped = [c.name for c in self._consumers if not c.alive]
        r.consuming = not (r.started and stopped)
        if r.started:
            r.detail["consumers"] = "stopped: " + ", ".join(stopped) if stopped else "ok"

    async def _probe_once(self) -> None:
        r = self.readiness
        self._check_consumers()
        timeout = max(1.0, self.settings.probe_interval_s)
        try:
            async with asyncio.timeout(timeout):
                await self.mongo.admin.command("ping")
            r.mongodb, r.detail["mongodb"] = True, "ok"
        except Exception as exc:
            r.mongodb, r.detail["mongodb"] = False, type(exc).__name__
        if r.started:
            try:
                async with asyncio.timeout(timeout):
                    r.kafka = await self._kafka_answers()
            except TimeoutError:
                r.kafka = False
            r.detail["kafka"] = "ok" if r.kafka else "no answer"
        else:
            r.detail["kafka"] = "starting"
        DEPENDENCY_UP.labels(self.service, "kafka").set(int(r.kafka))
        DEPENDENCY_UP.labels(self.service, "mongodb").set(int(r.mongodb))

    async def _kafka_answers(self) -> bool:
        """Whether the cluster answers a metadata request for one of our topics.

        The request goes to each known broker in turn until one answers, so one broker down
        in a cluster is no outage (asking one broker at random made readiness flap while a
        broker of three was down). Only our topic is asked for: the framework's ping asks
        for every topic of the cluster and decodes them all, which on a cluster with
        thousands of partitions stalled the event loop for tens of ms."""
        try:
            if self._probe_client is None:
                self._probe_client = await self._new_probe_client()
            return bool(await self._probe_client.force_metadata_update())
        except Exception:
            return False

    async def _new_probe_client(self) -> AIOKafkaClient:
        client = AIOKafkaClient(
            bootstrap_servers=self.settings.kafka_servers,
            client_id=f"linli-{self.service}-probe",
            request_timeout_ms=int(max(1.0, self.settings.probe_interval_s) * 1000),
        )
        try:
            await client.bootstrap()
            await client.set_topics([self._probe_topic])
        except BaseException:
            await client.close()
            raise
        return client

    async def _probe_forever(self) -> None:
        while True:
            await self._probe_once()
            await asyncio.sleep(self.settings.probe_interval_s)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        await self._stop_consumers()
        with suppress(Exception):
            await self.broker.stop()
        if self._probe_client is not None:
            with suppress(Exception):
                await self._probe_client.close()
        await self.mongo.close()
        log.info("service_stopped", service=self.service)
