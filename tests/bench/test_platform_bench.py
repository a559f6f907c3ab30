"""The shared publishing path (CloudEvents envelope, payload serialisation, FastStream, acks=all,
idempotent producer) against a bare aiokafka producer sending the same bytes and headers,
prepared in advance, with the same settings, in the same run. Prints events/s and the ratio."""

import asyncio
import time
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from shared.events import Envelope, IssueReportedV1
from shared.kafka.admin import apply_topics
from shared.kafka.broker import make_broker
from shared.kafka.publisher import EventPublisher
from shared.topics import ISSUES_REPORTED, Topic

pytestmark = pytest.mark.bench

EVENTS = 5000
CONCURRENCY = 200


def _event(i: int) -> IssueReportedV1:
    return IssueReportedV1(
        issue_id=f"iss_bench{i:010d}",
        category="streetlight-out",
        node_id="sz.tongjiang.niuerqiao.hongqi",
        description="路灯不亮 " * 10,
        reported_at=datetime.now(UTC),
    )


async def _run_concurrently(send, count: int) -> float:
    queue = iter(range(count))
    began = time.perf_counter()

    async def worker():
        for i in queue:
            await send(i)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - began


async def test_publish_throughput_against_a_bare_producer(settings):
    topic = settings.topic_prefix + ISSUES_REPORTED
    await apply_topics(
        settings.kafka_bootstrap,
        [Topic(ISSUES_REPORTED, "issue id", "bench")],
        prefix=settings.topic_prefix,
        default_partitions=6,
    )
    payloads = [_event(i) for i in range(EVENTS)]

    bare = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=2
    )
    await bare.start()
    try:
        bodies = [p.model_dump_json().encode() for p in payloads]
        headers = [
            [
                (k, v.encode())
                for k, v in Envelope(p.event_type, "/bench", p.issue_id).to_headers().items()
            ]
            for p in payloads
        ]

        async def send_bare(i):
            await bare.send_and_wait(
                topic, bodies[i], key=payloads[i].issue_id.encode(), headers=headers[i]
            )

        await _run_concurrently(send_bare, 500)  # warm-up
        bare_s = await _run_concurrently(send_bare, EVENTS)
    finally:
        await bare.stop()

    broker = make_broker(settings, "bench")
    publisher = EventPublisher(broker, service="bench", prefix=settings.topic_prefix, timeout_s=10)
    publisher.declare(ISSUES_REPORTED, IssueReportedV1)
    await broker.start()
    try:

        async def send_platform(i):
            await publisher.publish(ISSUES_REPORTED, payloads[i], key=payloads[i].issue_id)

        await _run_concurrently(send_platform, 500)
        platform_s = await _run_concurrently(send_platform, EVENTS)
    finally:
        await broker.stop()

    bare_rate, platform_rate = EVENTS / bare_s, EVENTS / platform_s
    print(
        f"\nplatform publish: {platform_rate:,.0f} events/s; bare aiokafka baseline: "
        f"{bare_rate:,.0f} events/s; ratio {platform_rate / bare_rate:.2f} "
        f"({EVENTS} events, {CONCURRENCY} concurrent senders, acks=all, idempotent)"
    )
    assert platform_rate > 0
