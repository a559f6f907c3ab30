"""Test helpers that work with the real servers: in-process apps, Kafka readers, polling."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI

from shared.events import Envelope, EventPayload
from shared.task_dump import task_dump

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], timeout_s: float = 20.0, interval_s: float = 0.1
) -> T:
    """The first truthy result of ``probe``; fails with the last result after the timeout."""
    deadline = time.monotonic() + timeout_s
    result: Any = None
    while time.monotonic() < deadline:
        result = await probe()
        if result:
            return result
        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met in {timeout_s}s; last result: {result!r}")


def wait_ready(
    url: str, what: str, timeout_s: float = 60.0, alive: Callable[[], bool] = lambda: True
) -> None:
    """Poll a ``/readyz`` until it answers 200; fail when ``alive()`` says the server has
    died, or after ``timeout_s``. (Blocking: for servers in their own thread or process.)"""
    deadline = time.monotonic() + timeout_s
    while True:
        assert alive(), f"{what} stopped while starting"
        assert time.monotonic() < deadline, f"{what} was not ready within {timeout_s} s"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


SHUTDOWN_S = 60.0  # an in-process app's stop; a slower one is reported, not waited on


@asynccontextmanager
async def serving(
    *apps: FastAPI, ready_timeout_s: float = 30.0
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Run the apps' lifespans in this loop (starting together) and give one client per app
    once every /readyz says ready. Their stop is bounded: a stop that hangs (seen rarely, at
    a test's teardown, never in a service's own process) is warned about after
    ``SHUTDOWN_S`` instead of holding the suite until the test's timeout."""
    stack = AsyncExitStack()
    try:
        clients = []
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://app")
                )
            )

        async def ready(client: httpx.AsyncClient) -> bool:
            return (await client.get("/readyz")).status_code == 200

        await asyncio.gather(*(eventually(lambda c=c: ready(c), ready_timeout_s) for c in clients))
        yield clients
    finally:
        stopping = asyncio.create_task(stack.aclose(), name="serving-stop")
        await asyncio.wait([stopping], timeout=SHUTDOWN_S)
        if not stopping.done():  # what every task waits on, taken before anything is cancelled
            dump = task_dump()
            stopping.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await stopping
            warnings.warn(
                f"an in-process app did not stop within {SHUTDOWN_S:.0f} s; its tasks:\n{dump}",
                stacklevel=2,
            )
        else:
            stopping.result()


async def read_topic(
    bootstrap: str | list[str], topic: str, *, expect: int = 1, timeout_s: float = 20.0
) -> list[Any]:
    """Records of a topic from the beginning, as a department's plain consumer reads them."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(records) < expect and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def produce(
    bootstrap: str, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def produce_event(
    bootstrap: str,
    topic: str,
    event: EventPayload,
    *,
    key: str,
    source: str = "/test",
    event_id: str | None = None,
) -> None:
    """Produce one platform event the way a service publishes it: JSON body, CloudEvents
    headers (its subject, and ``event_id`` when given)."""
    envelope = Envelope(
        type=event.event_type,
        source=source,
        subject=event.subject(),
        **({"id": event_id} if event_id else {}),
    )
    await produce(
        bootstrap,
        topic,
        event.model_dump_json().encode(),
        key=key.encode(),
        headers=envelope.record_headers(),
    )
