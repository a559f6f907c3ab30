"""A consumer never stops silently, against real Kafka. A ``CancelledError`` that nobody asked
for (a future inside a client library cancelled under the caller) neither ends a record's work
as if done nor ends the fetch loop: the work is retried and the loop restarted; and while a
consumer's fetch loop is not running, the service's readiness says so."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer

from shared.kafka.consumer import consumer_group
from shared.service import build_parts
from shared.topics import ISSUES_REPORTED
from tests.helpers import eventually, serving
from tests.integration.test_consumer_failures import MODES, _send, _subscribe
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration


async def _stray_cancellation() -> None:
    """What a library future cancelled under its awaiter looks like to the caller."""
    future = asyncio.get_running_loop().create_future()
    future.cancel()
    await future


@pytest.mark.parametrize("mode", MODES)
async def test_a_stray_cancellation_in_a_handler_is_retried_not_lost(servers, mode):
    settings = isolated_settings(servers, "c", topic_partitions=1)
    parts = build_parts(settings, "dispatch")
    attempts: list[str] = []
    handled: list[str] = []

    async def handle(name: str) -> None:
        attempts.append(name)
        if name == "#1" and attempts.count("#1") == 1:
            await _stray_cancellation()
        handled.append(name)

    _subscribe(parts, mode, handle)
    app = parts.app(title="t", description="t", routers=[], prepare_db=lambda: asyncio.sleep(0))
    async with serving(app):
        await _send(settings, (1, 2))
        await eventually(lambda: asyncio.sleep(0, result={"#1", "#2"} <= set(handled)), 30)
    assert attempts.count("#1") == 2


async def test_a_fetch_loop_ended_by_a_stray_cancellation_is_restarted(servers, monkeypatch):
    settings = isolated_settings(servers, "c", topic_partitions=1)
    parts = build_parts(settings, "dispatch")
    handled: list[str] = []

    async def handle(name: str) -> None:
        handled.append(name)

    _subscribe(parts, "batch-streaming", handle)
    group = consumer_group(settings.topic_prefix, "dispatch", ISSUES_REPORTED)
    getmany = AIOKafkaConsumer.getmany
    cancelled: list[bool] = []

    async def cancelled_once(self, *args, **kwargs):
        if self._group_id == group and not cancelled:
            cancelled.append(True)
            await _stray_cancellation()
        return await getmany(self, *args, **kwargs)

    monkeypatch.setattr(AIOKafkaConsumer, "getmany", cancelled_once)
    app = parts.app(title="t", description="t", routers=[], prepare_db=lambda: asyncio.sleep(0))
    async with serving(app):
        await _send(settings, (1,))
        await eventually(lambda: asyncio.sleep(0, result=handled == ["#1"]), timeout_s=30)
    assert cancelled == [True]


async def test_readiness_is_false_while_a_consumer_is_down(servers):
    settings = isolated_settings(servers, "c", topic_partitions=1).model_copy(
        update={"probe_interval_s": 0.2}
    )
    parts = build_parts(settings, "dispatch")
    handled: list[str] = []

    async def handle(name: str) -> None:
        handled.append(name)

    _subscribe(parts, "single", handle)
    [consumer] = parts.consumers
    app = parts.app(title="t", description="t", routers=[], prepare_db=lambda: asyncio.sleep(0))
    down = asyncio.Event()
    broken: list[bool] = []
    fetch, connect = consumer.fetch_and_handle, consumer._connected

    async def fails_once(kafka_consumer):
        if not broken:
            broken.append(True)
            down.set()
            raise RuntimeError("the fetch loop broke")
        return await fetch(kafka_consumer)

    async def refused_while_down():
        if down.is_set():
            raise ConnectionError("cannot rejoin yet")
        return await connect()

    async with serving(app) as [client]:
        consumer.fetch_and_handle, consumer._connected = fails_once, refused_while_down

        async def not_ready_for_the_consumer() -> bool:
            answer = await client.get("/readyz")
            consumers = answer.json()["detail"].get("consumers", "")
            return answer.status_code == 503 and consumers.startswith("stopped")

        await eventually(not_ready_for_the_consumer)
        answer = (await client.get("/readyz")).json()
        assert answer["detail"]["consumers"] == f"stopped: dispatch:{ISSUES_REPORTED}"
        down.clear()

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready, timeout_s=30)
        await _send(settings, (1,))
        await eventually(lambda: asyncio.sleep(0, result=handled == ["#1"]), timeout_s=30)
    assert consumer.restarts >= 1
