"""Intake benchmark: sustained accepted reports per second with real Kafka (acks=all) beside
a baseline of the same app answering without publishing, measured in the same run, and the
p99 latency of an open-loop load of 500 reports per second.

Floors (issue 3): >= 1,500 accepted/s, >= 40 % of the baseline, p99 <= 50 ms at 500/s.
The app runs in-process (ASGI, no HTTP parsing) so the figures are the app's, not the
load generator's; both sides share the machine's two cores."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter

import httpx
import pytest

from services.intake.app import create_app
from shared.metrics import EVENTS_CONSUMED
from shared.settings import Settings
from shared.topics import ISSUES_REPORTED
from tests.helpers import serving

pytestmark = pytest.mark.bench
SUSTAIN_S = float(os.environ.get("LINLI_BENCH_SECONDS", "8"))
CONCURRENCY = int(os.environ.get("LINLI_BENCH_CONCURRENCY", "128"))
OPEN_LOOP_RATE = 500
OPEN_LOOP_S = 6.0


def _report(i: int) -> dict:
    return {
        "category": "streetlight-out",
        "node_id": "sz.tongjiang.niuerqiao.hongqi",
        "description": f"红旗巷路灯不亮 #{i}",
        "attributes": {"lamps-out": "2"},
        "contact": {"phone": f"138{i % 100_000_000:08d}"},
    }


async def _sustained(client: httpx.AsyncClient, seconds: float) -> tuple[float, int]:
    accepted = 0
    other = 0
    stop = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal accepted, other
        while time.perf_counter() < stop:
            response = await client.post("/api/v1/issues", json=_report(next(counter)))
            if response.status_code == 202:
                accepted += 1
            else:
                other += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return accepted / (time.perf_counter() - started), other


async def _open_loop(client: httpx.AsyncClient, rate: int, seconds: float) -> dict:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def one(i: int, due: float) -> None:
        response = await client.post("/api/v1/issues", json=_report(i))
        statuses[response.status_code] += 1
        latencies.append(time.perf_counter() - due)  # from the scheduled time: no omission

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    failed = sum(n for status, n in statuses.items() if status != 202)
    return {
        "p50": pick(0.50),
        "p99": pick(0.99),
        "max": latencies[-1] * 1000,
        "failed": failed,
        "statuses": dict(statuses),
    }


def _count(metric, **labels) -> float:
    return sum(
        sample.value
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
        and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def test_report_intake_throughput_and_latency(servers):
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        env="test",
        kafka_bootstrap=servers.kafka_bootstrap,
        mongodb_url=servers.mongodb_url,
        topic_prefix=f"b{run}.",
        db_prefix=f"b{run}_",
        topic_partitions=6,
        probe_interval_s=2.0,
        intake_rate_per_client=0,
        log_level="WARNING",
    )
    app = create_app(settings)
    async with serving(app) as (client,):
        publisher = app.state.parts.publisher
        real_publish = publisher.publish

        async def no_publish(topic, payload, *, key, event_id=None):
            return None

        await _sustained(client, 1.0)  # warm-up: connections, code paths
        publisher.publish = no_publish
        baseline, _ = await _sustained(client, SUSTAIN_S)
        publisher.publish = real_publish
        consumed_before = _count(EVENTS_CONSUMED, service="intake", topic=ISSUES_REPORTED)
        kafka_started = time.perf_counter()
        with_kafka, refused = await _sustained(client, SUSTAIN_S)
        await asyncio.sleep(1.0)
        latency = await _open_loop(client, OPEN_LOOP_RATE, OPEN_LOOP_S)
        consumed = _count(EVENTS_CONSUMED, service="intake", topic=ISSUES_REPORTED)
        read_model_rate = (consumed - consumed_before) / (time.perf_counter() - kafka_started)

    ratio = with_kafka / baseline
    print(
        f"\nintake bench: with Kafka acks=all {with_kafka:,.0f} reports/s "
        f"(non-202: {refused}); baseline without publishing {baseline:,.0f} reports/s; "
        f"ratio {ratio:.0%} (concurrency {CONCURRENCY}, {SUSTAIN_S:.0f} s each)"
    )
    print(
        f"intake bench: open loop {OPEN_LOOP_RATE}/s for {OPEN_LOOP_S:.0f} s: "
        f"p50 {latency['p50']:.1f} ms, p99 {latency['p99']:.1f} ms, "
        f"max {latency['max']:.1f} ms, answers {latency['statuses']}"
    )
    print(
        f"intake bench: the read model (same process) recorded {read_model_rate:,.0f} "
        "reports/s meanwhile (it lags under this load and catches up afterwards)"
    )
    assert refused == 0 and latency["failed"] == 0
