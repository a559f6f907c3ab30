"""The shared consumer's streaming mode against real Kafka: records of different keys (or with
batch handlers, of different partitions) are processed concurrently and those of one key (one
partition) in order, a transient failure runs the same work again, a poison record is
dead-lettered, and a partition's committed offset never passes a record whose work is not
done."""

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pymongo.errors import AutoReconnect

from shared.events import Envelope, IssueReportedV1
from shared.kafka import consumer as consumer_module
from shared.kafka.admin import apply_topics
from shared.kafka.consumer import PoisonMessage, consumer_group
from shared.service import build_parts
from shared.topics import ISSUES_REPORTED, Topic, dead_letters
from tests.helpers import eventually, produce, read_topic, serving
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _report(key: str, n: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    event = IssueReportedV1(
        issue_id=f"iss_stream{key}{n:04d}",
        category="streetlight-out",
        node_id="sz.tongjiang.niuerqiao.hongqi",
        description=f"{key}#{n}",
        reported_at=NOW,
    )
    envelope = Envelope(type=event.event_type, source="/test", subject=event.issue_id)
    headers = envelope.record_headers()
    return event.model_dump_json().encode(), headers


async def test_streaming_keeps_key_order_retries_in_place_and_commits_only_done(servers):
    settings = isolated_settings(servers, "s", topic_partitions=1)
    parts = build_parts(settings, "dispatch")
    topic = settings.topic_prefix + ISSUES_REPORTED
    release_first = asyncio.Event()
    attempts: list[str] = []
    handled: list[str] = []
    failures = {"a#2": AutoReconnect("database away")}  # a#2 fails once

    async def on_report(envelope, event) -> str:
        name = event.description
        attempts.append(name)
        if name == "a#1":
            await release_first.wait()
        if name in failures:
            raise failures.pop(name)
        handled.append(name)
        return "ok"

    parts.consume(ISSUES_REPORTED, {IssueReportedV1: on_report}, streaming=True)
    app = parts.app(title="t", description="t", routers=[], prepare_db=lambda: asyncio.sleep(0))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    group = consumer_group(settings.topic_prefix, "dispatch", ISSUES_REPORTED)

    async def committed() -> int:
        offsets = await admin.list_consumer_group_offsets(group)
        return max((meta.offset for meta in offsets.values()), default=-1)

    try:
        async with serving(app):
            # offsets 0..4: a#1 (held), b#1, a#2 (fails once), b#2, poison; then a#3 at 5
            for key, n in (("a", 1), ("b", 1), ("a", 2), ("b", 2)):
                value, headers = _report(key, n)
                await produce(
                    settings.kafka_bootstrap, topic, value, key=key.encode(), headers=headers
                )
            await produce(
                settings.kafka_bootstrap, topic, b"{not json", key=b"c", headers=_report("c", 1)[1]
            )
            # key b goes on while a#1 is held; a#2 waits behind a#1
            await eventually(lambda: asyncio.sleep(0, result=handled == ["b#1", "b#2"]))
            await asyncio.sleep(0.3)  # several commit rounds
            assert "a#2" not in attempts
            assert await committed() <= 0  # nothing past the unfinished a#1
            release_first.set()
            value, headers = _report("a", 3)
            await produce(settings.kafka_bootstrap, topic, value, key=b"a", headers=headers)
            await eventually(lambda: asyncio.sleep(0, result=len(handled) == 5))

            async def all_committed():
                return await committed() == 6

            await eventually(all_committed)
    finally:
        await admin.close()

    assert [name for name in handled if name.startswith("a")] == ["a#1", "a#2", "a#3"]
    assert attempts.count("a#2") == 2  # the same record again after the failure
    dead = await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + dead_letters("dispatch"), expect=1
    )
    assert "invalid" in dict(dead[0].headers)["dlq_error"].decode()


async def test_streaming_batches_run_per_partition_in_order_and_commit_only_done(servers):
    """With batch handlers, each partition's share of a fetch is one call, chained behind the
    partition's previous one: a held partition holds only itself, a failed call runs again
    in place, a poison outcome is dead-lettered alone, and nothing past unfinished work is
    committed."""
    settings = isolated_settings(servers, "s", topic_partitions=2)
    parts = build_parts(settings, "dispatch")
    topic = settings.topic_prefix + ISSUES_REPORTED
    release = asyncio.Event()
    calls: list[list[str]] = []
    handled: list[str] = []
    failures = {"b#1": AutoReconnect("database away")}  # the first call with b#1 fails once

    async def on_reports(items) -> list:
        names = [event.description for _, event in items]
        calls.append(names)
        if "a#1" in names:
            await release.wait()
        for name in names:
            if name in failures:
                raise failures.pop(name)
        handled.extend(names)
        return [PoisonMessage("no such place") if n == "b#3" else "ok" for n in names]

    parts.consume(ISSUES_REPORTED, {}, batch_handlers={IssueReportedV1: on_reports}, streaming=True)
    app = parts.app(title="t", description="t", routers=[], prepare_db=lambda: asyncio.sleep(0))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await admin.start()
    await producer.start()
    group = consumer_group(settings.topic_prefix, "dispatch", ISSUES_REPORTED)

    async def send(key: str, n: int, partition: int) -> None:
        value, headers = _report(key, n)
        await producer.send_and_wait(
            topic, value, key=key.encode(), headers=headers, partition=partition
        )

    async def committed() -> dict[int, int]:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp.partition: meta.offset for tp, meta in offsets.items()}

    try:
        async with serving(app):
            await send("a", 1, 0)
            await eventually(lambda: asyncio.sleep(0, result=["a#1"] in calls))
            await send("a", 2, 0)  # fetched later: waits behind the held a#1
            for n in (1, 2, 3):
                await send("b", n, 1)
            await eventually(lambda: asyncio.sleep(0, result=handled.count("b#2") == 1))
            await asyncio.sleep(0.3)  # several commit rounds
            assert not any("a#2" in call for call in calls)
            assert (await committed()).get(0, -1) <= 0  # nothing past the unfinished a#1
            release.set()
            await eventually(lambda: asyncio.sleep(0, result="a#2" in handled))

            async def all_committed():
                return await committed() == {0: 2, 1: 3}

            await eventually(all_committed)
    finally:
        await producer.stop()
        await admin.close()

    assert [n for n in handled if n.startswith("a")] == ["a#1", "a#2"]
    assert [n for n in handled if n.startswith("b")] == ["b#1", "b#2", "b#3"]
    assert all(len({n[0] for n in call}) == 1 for call in calls)  # one partition per call
    assert sum(call.count("b#1") for call in calls) == 2  # the failed call ran again
    dead = await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + dead_letters("dispatch"), expect=1
    )
    assert "no such place" in dict(dead[0].headers)["dlq_error"].decode()


async def test_streaming_work_hung_past_its_timeout_runs_again(servers, monkeypatch):
    """An attempt that neither finishes nor fails (it waits on something that never comes)
    is cancelled after the work timeout and run again, so it can not stall its partition
    for good; the offset is committed once the second attempt is done."""
    monkeypatch.setattr(consumer_module, "WORK_TIMEOUT_S", 1.0)
    settings = isolated_settings(servers, "s", topic_partitions=1)
    parts = build_parts(settings, "dispatch")
    topic = settings.topic_prefix + ISSUES_REPORTED
    calls: list[list[str]] = []
    handled: list[str] = []

    async def on_reports(items) -> list:
        names = [event.description for _, event in items]
        calls.append(names)
        if len(calls) == 1:
            await asyncio.Event().wait()  # hangs: nothing ever sets it
        handled.extend(names)
        return ["ok"] * len(names)

    parts.consume(ISSUES_REPORTED, {}, batch_handlers={IssueReportedV1: on_reports}, streaming=True)
    app = parts.app(title="t", description="t", routers=[], prepare_db=lambda: asyncio.sleep(0))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    group = consumer_group(settings.topic_prefix, "dispatch", ISSUES_REPORTED)

    async def committed() -> bool:
        offsets = await admin.list_consumer_group_offsets(group)
        return [meta.offset for meta in offsets.values()] == [1]

    try:
        async with serving(app):
            value, headers = _report("a", 1)
            await produce(settings.kafka_bootstrap, topic, value, key=b"a", headers=headers)
            await eventually(lambda: asyncio.sleep(0, result=handled == ["a#1"]), timeout_s=15)
            await eventually(committed)
    finally:
        await admin.close()
    assert calls == [["a#1"], ["a#1"]]


async def test_a_graceful_stop_finishes_and_commits_the_work_in_flight(servers):
    """Stopping the service lets the streaming work already taken finish and commits it, so
    the restart redelivers none of it."""
    settings = isolated_settings(servers, "s", topic_partitions=1)
    parts = build_parts(settings, "dispatch")
    topic = settings.topic_prefix + ISSUES_REPORTED
    started = asyncio.Event()
    finished: list[str] = []

    async def on_reports(items) -> list:
        started.set()
        await asyncio.sleep(1.0)  # still at work when the stop comes
        finished.extend(event.description for _, event in items)
        return ["ok"] * len(items)

    parts.consume(ISSUES_REPORTED, {}, batch_handlers={IssueReportedV1: on_reports}, streaming=True)
    app = parts.app(title="t", description="t", routers=[], prepare_db=lambda: asyncio.sleep(0))
    # the records wait in the topic, so the first fetch takes all three: one unit in flight
    await apply_topics(
        settings.kafka_bootstrap,
        [Topic(ISSUES_REPORTED, "issue id", "")],
        prefix=settings.topic_prefix,
        default_partitions=1,
    )
    for n in (1, 2, 3):
        value, headers = _report("a", n)
        await produce(settings.kafka_bootstrap, topic, value, key=b"a", headers=headers)
    async with serving(app):
        await asyncio.wait_for(started.wait(), timeout=30)
    assert finished == ["a#1", "a#2", "a#3"]  # the stop waited for the work in flight
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        group = consumer_group(settings.topic_prefix, "dispatch", ISSUES_REPORTED)
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    assert {tp.partition: meta.offset for tp, meta in offsets.items()} == {0: 3}
