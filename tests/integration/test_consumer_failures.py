"""The shared consumer's failure policy against real Kafka, in each of its modes (one record at
a time or batches, streaming or not): a record whose handler fails in a way that can never
succeed (a bug, a validation error) is dead-lettered at once with its error and the records
after it on the partition are processed; a transient failure (MongoDB away) is retried with
back-off until it succeeds, and meanwhile ``linli_consumer_stuck_seconds`` says how long."""

import asyncio
import time
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from shared.events import Envelope, IssueReportedV1
from shared.kafka.failures import TransientError, is_transient
from shared.kafka.publisher import PublishFailed
from shared.service import build_parts
from shared.topics import ISSUES_REPORTED, dead_letters
from tests.helpers import eventually, produce, read_topic, serving
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
MODES = ["single", "single-streaming", "batch", "batch-streaming"]


def _report(n: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    event = IssueReportedV1(
        issue_id=f"iss_failure{n:05d}",
        category="streetlight-out",
        node_id="sz.tongjiang.niuerqiao.hongqi",
        description=f"#{n}",
        reported_at=NOW,
    )
    envelope = Envelope(type=event.event_type, source="/test", subject=event.issue_id)
    return event.model_dump_json().encode(), envelope.record_headers()


def _subscribe(parts, mode: str, handle) -> None:
    """``handle(description)`` for each report, through the consumer in ``mode``."""

    async def single(_, event) -> str:
        await handle(event.description)
        return "ok"

    async def batch(items) -> list[str]:
        for _, event in items:
            await handle(event.description)
        return ["ok"] * len(items)

    streaming = mode.endswith("streaming")
    if mode.startswith("batch"):
        parts.consume(
            ISSUES_REPORTED, {}, batch_handlers={IssueReportedV1: batch}, streaming=streaming
        )
    else:
        parts.consume(ISSUES_REPORTED, {IssueReportedV1: single}, streaming=streaming)


async def _send(settings, numbers) -> None:
    for n in numbers:
        value, headers = _report(n)
        await produce(  # one key: one partition, in this order
            settings.kafka_bootstrap,
            settings.topic_prefix + ISSUES_REPORTED,
            value,
            key=b"one-key",
            headers=headers,
        )


@pytest.mark.parametrize("mode", MODES)
async def test_a_record_that_can_never_succeed_is_dead_lettered_at_once(servers, mode):
    settings = isolated_settings(servers, "f", topic_partitions=1)
    parts = build_parts(settings, "dispatch")
    attempts: dict[str, int] = {}
    handled: list[str] = []

    async def handle(name: str) -> None:
        attempts[name] = attempts.get(name, 0) + 1
        if name == "#2":
            raise OverflowError("MongoDB can only handle up to 8-byte ints")  # never passes
        handled.append(name)

    _subscribe(parts, mode, handle)
    app = parts.app(title="t", description="t", routers=[], prepare_db=lambda: asyncio.sleep(0))
    async with serving(app):
        await _send(settings, (1, 2, 3))
        started = time.monotonic()
        await eventually(lambda: asyncio.sleep(0, result="#3" in handled), timeout_s=30)
        seconds = time.monotonic() - started
        await _send(settings, (4,))
        await eventually(lambda: asyncio.sleep(0, result="#4" in handled), timeout_s=30)

    # (a batch that failed runs again one by one: its records before the poison come twice)
    assert list(dict.fromkeys(handled)) == ["#1", "#3", "#4"]
    assert attempts["#2"] <= 2, attempts  # alone once more at most (a batch split), no retries
    assert seconds < 10, f"the record after the poison waited {seconds:.1f} s"
    [dead] = await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + dead_letters("dispatch")
    )
    headers = dict(dead.headers)
    assert b"OverflowError: MongoDB can only handle" in headers["dlq_error"]
    assert headers["dlq_source_offset"] == b"1"


def _stuck_seconds(settings) -> float:
    value = REGISTRY.get_sample_value(
        "linli_consumer_stuck_seconds", {"service": "dispatch", "topic": ISSUES_REPORTED}
    )
    return value or 0.0


@pytest.mark.parametrize("mode", MODES)
async def test_a_transient_failure_is_retried_until_it_passes_and_shows_as_stuck(servers, mode):
    settings = isolated_settings(servers, "f", topic_partitions=1)
    parts = build_parts(settings, "dispatch")
    attempts: list[str] = []
    handled: list[str] = []
    database_back = asyncio.Event()

    async def handle(name: str) -> None:
        attempts.append(name)
        if name == "#1" and not database_back.is_set():
            raise ServerSelectionTimeoutError("No servers found yet")
        handled.append(name)

    _subscribe(parts, mode, handle)
    app = parts.app(title="t", description="t", routers=[], prepare_db=lambda: asyncio.sleep(0))
    async with serving(app):
        await _send(settings, (1, 2))
        await eventually(lambda: asyncio.sleep(0, result=attempts.count("#1") >= 3))
        assert handled == []  # #2 waits behind #1 (one partition, one key)
        await eventually(lambda: asyncio.sleep(0, result=_stuck_seconds(settings) >= 1.0))
        database_back.set()
        await eventually(lambda: asyncio.sleep(0, result=handled == ["#1", "#2"]), timeout_s=30)
        await eventually(lambda: asyncio.sleep(0, result=_stuck_seconds(settings) == 0.0))
    dead = await read_topic(
        settings.kafka_bootstrap,
        settings.topic_prefix + dead_letters("dispatch"),
        expect=1,
        timeout_s=2,
    )
    assert dead == []


def test_only_failures_that_may_pass_are_transient():
    assert is_transient(AutoReconnect("connection reset"))
    assert is_transient(ServerSelectionTimeoutError("no servers"))
    assert is_transient(TimeoutError())
    assert is_transient(PublishFailed("no ack"))
    assert is_transient(TransientError("another writer holds it"))
    assert is_transient(ExceptionGroup("g", [ValueError("x"), AutoReconnect("y")]))
    assert is_transient(BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64}]}))
    assert is_transient(NotPrimaryError("stepped down"))
    for deterministic in (
        OverflowError("MongoDB can only handle up to 8-byte ints"),
        ValueError("bad"),
        KeyError("field"),
        RuntimeError("a bug"),
        ExceptionGroup("g", [ValueError("x")]),
        BulkWriteError({"writeErrors": [{"code": 2, "errmsg": "bad value"}]}),
        OperationFailure("unknown operator", code=2),
    ):
        assert not is_transient(deterministic), deterministic
