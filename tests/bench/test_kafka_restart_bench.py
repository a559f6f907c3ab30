"""Kafka's own restart after SIGKILL, on the local server `make up` runs: the platform's topic
catalogue, 20,000 acknowledged records, ``kill -9``, start again. Prints the seconds to
answering and to a consumer group's first round trip, with the broker's own account of its log
recovery; checks that every acknowledged record is still there. (README: "Kafka's restart".)
Set ``LINLI_TEST_UP_PORT_BASE`` to choose its three ports (base+10 to base+12)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.ops.infra.local import LocalServers, _Kafka, down, up
from services.ops.infra.processes import send_group, wait_gone
from shared.kafka.admin import apply_with_settings
from shared.service import platform_topics
from shared.settings import Settings
from shared.topics import ISSUES_REPORTED
from tests.e2e.conftest import free_port

pytestmark = [pytest.mark.bench, pytest.mark.timeout(900)]
RECORDS = 20_000


def _ports() -> list[int]:
    base = os.environ.get("LINLI_TEST_UP_PORT_BASE")
    return [int(base) + 10 + i for i in range(3)] if base else [free_port() for _ in range(3)]


async def _produce(bootstrap: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(ISSUES_REPORTED, b"x" * 500, key=str(i).encode()) for i in range(n)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _end_offsets(bootstrap: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(ISSUES_REPORTED, p) for p in range(partitions)]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()


async def _group_round_trip(bootstrap: str) -> None:
    """A new consumer group gets its partitions and reads a record produced after it joined."""
    consumer = AIOKafkaConsumer(
        ISSUES_REPORTED, bootstrap_servers=bootstrap, group_id=f"probe-{uuid.uuid4().hex[:6]}"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        while not consumer.assignment():  # noqa: ASYNC110 (the client's state, polled)
            await asyncio.sleep(0.05)
        await consumer.seek_to_end()
        await producer.send_and_wait(ISSUES_REPORTED, b"probe", key=b"probe")
        while True:
            fetched = await consumer.getmany(timeout_ms=500)
            if any(r.value == b"probe" for batch in fetched.values() for r in batch):
                return
    finally:
        await consumer.stop()
        await producer.stop()


def test_kafka_restarts_after_sigkill_with_every_acknowledged_record(tmp_path):
    servers = LocalServers(tmp_path / "state", *_ports())
    settings = Settings(kafka_bootstrap=servers.kafka_bootstrap, mongodb_url=servers.mongodb_url)
    try:
        up(servers, progress=lambda _: None)
        asyncio.run(apply_with_settings(settings, platform_topics(settings)))
        asyncio.run(_produce(servers.kafka_bootstrap, RECORDS))
        pid, _ = _Kafka(servers).pids.live_pid()
        assert pid is not None
        send_group(pid, signal.SIGKILL)
        assert wait_gone(pid, 10)
        load = os.getloadavg()[0]
        began = time.monotonic()
        up(servers, progress=lambda _: None)
        answering = time.monotonic() - began
        asyncio.run(asyncio.wait_for(_group_round_trip(servers.kafka_bootstrap), 180))
        serving = time.monotonic() - began
        kept = asyncio.run(_end_offsets(servers.kafka_bootstrap, settings.topic_partitions))
        assert kept == RECORDS + 1  # every acknowledged record, and the probe
    finally:
        down(servers, progress=lambda _: None)
    log = (servers.state_dir / "kafka" / "server.log").read_text().split("starting:")[-1]
    loaded = re.search(r"Loaded \d+ logs in \d+ms", log)
    print(
        f"\nkafka after kill -9 (load {load:.1f}): answering in {answering:.1f} s, a new consumer "
        f"group's round trip in {serving:.1f} s; {loaded.group(0) if loaded else 'no log load'}; "
        f"{log.count('DUPLICATE_BROKER_REGISTRATION')} refused re-registrations"
    )
