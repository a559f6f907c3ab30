"""Dispatch benchmark, each figure beside a baseline measured in the same run.

1. Issues routed per second (case stored, assignment event and department task published and
   acknowledged) vs a raw consume-and-produce of the same messages with no logic.
2. With 100,000 pending timers: the firing lag p99 of timers coming due, and the cost of one
   tick (claiming through the due index) vs the same tick with 1,000 pending.
"""

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import InsertOne, UpdateOne

from services.dispatch.app import create_app
from shared.events import Envelope, IssueReportedV1
from shared.kafka.admin import apply_topics
from shared.settings import Settings
from shared.topics import ISSUES_REPORTED, Topic
from tests.helpers import eventually, serving

pytestmark = pytest.mark.bench
ISSUES = 1000
WINDOW_S = 20
PENDING = 100_000


def _settings(servers, run, **extra) -> Settings:
    return Settings(
        env="test",
        kafka_bootstrap=servers.kafka_bootstrap,
        mongodb_url=servers.mongodb_url,
        topic_prefix=f"b{run}.",
        db_prefix=f"b{run}_",
        topic_partitions=4,
        log_level="WARNING",
        **extra,
    )


async def _produce(bootstrap: str, topic: str, n: int, run: str, start: datetime) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=10)
    await producer.start()
    try:
        for i in range(n):
            issue_id = f"iss_{run}{i:07d}"
            event = IssueReportedV1(
                issue_id=issue_id,
                category="streetlight-out",
                node_id="sz.tongjiang.niuerqiao.hongqi",
                description="路灯不亮",
                reported_at=start,
            )
            env = Envelope(type=event.event_type, source="/bench", subject=issue_id, id=issue_id)
            headers = [(k, v.encode()) for k, v in env.to_headers().items()]
            await producer.send(
                topic, event.model_dump_json().encode(), key=issue_id.encode(), headers=headers
            )
        await producer.flush()
    finally:
        await producer.stop()


async def _baseline(bootstrap: str, source: str, sink: str, n: int) -> float:
    """Consume the same messages and produce each to another topic, acks=all, committing
    after each batch's acknowledgements: the floor any consumer-producer pays here."""
    consumer = AIOKafkaConsumer(
        source, bootstrap_servers=bootstrap, group_id=f"baseline-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    done = 0
    started = time.perf_counter()
    try:
        while done < n:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            futures = []
            for records in batches.values():
                for r in records:
                    futures.append(
                        await producer.send(sink, r.value, key=r.key, headers=list(r.headers))
                    )
            await asyncio.gather(*futures)
            await consumer.commit()
            done += len(futures)
        return done / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


async def test_routing_throughput_vs_raw_consume_produce(servers):
    run = uuid.uuid4().hex[:6]
    settings = _settings(servers, run, dispatch_timer_interval_s=0)
    start = datetime.now(UTC)
    topic = settings.topic_prefix + ISSUES_REPORTED
    sink = settings.topic_prefix + "bench.sink"
    await apply_topics(
        settings.kafka_bootstrap,
        [Topic(ISSUES_REPORTED, "k", "", partitions=4), Topic("bench.sink", "k", "", partitions=4)],
        prefix=settings.topic_prefix, default_partitions=4, replication=1,
    )  # fmt: skip
    await _produce(settings.kafka_bootstrap, topic, ISSUES, run, start)
    baseline = await _baseline(settings.kafka_bootstrap, topic, sink, ISSUES)

    app = create_app(settings)
    cases = app.state.store.cases
    async with serving(app):
        # routed = stored with its events acknowledged; measured over a fixed window
        await eventually(lambda: cases.count_documents({}), timeout_s=60, interval_s=0.05)
        first = await cases.count_documents({"outbox_at": None})
        began = time.perf_counter()
        while time.perf_counter() - began < WINDOW_S:
            await asyncio.sleep(1)
            done = await cases.count_documents({"outbox_at": None})
            if done >= ISSUES:
                break
        rate = (done - first) / (time.perf_counter() - began)
    print(
        f"\ndispatch routing: {rate:,.0f} issues/s routed (stored + assignment + task, acked) | "
        f"baseline raw consume-and-produce: {baseline:,.0f} msgs/s | ratio {rate / baseline:.2f}"
    )
    assert rate > 0


@pytest.mark.xfail(
    reason="filling 100,000 timers does not finish: every timer due in one minute is pushed "
    "onto one growing bucket document, and FerretDB v1 rewrites the whole document on each "
    "update (and scans the collection for any filter beyond a bare _id)",
    strict=False,
)
@pytest.mark.timeout(120)
async def test_timer_tick_cost_and_lag_with_100k_pending(servers):
    run = uuid.uuid4().hex[:6]
    settings = _settings(servers, run, dispatch_timer_interval_s=0, dispatch_timer_batch=500)
    base = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 09:00 Shanghai
    shift = {"d": timedelta(0)}
    app = create_app(settings, clock=lambda: datetime.now(UTC) + shift["d"])
    store, wheel, dispatcher = app.state.store, app.state.timers, app.state.dispatcher
    async with serving(app):
        far = base + timedelta(days=30)

        async def fill(count: int, offset: int) -> None:
            """Pending timers spread over a year ahead, with their wheel buckets (bulk)."""
            ops, minutes = [], {}
            for i in range(offset, offset + count):
                timer_id = f"iss_pending{i:08d}|x:ladder"
                due = far + timedelta(minutes=i % 1000 + (0 if i < 1000 else 1000), seconds=i % 60)
                ops.append(InsertOne({
                    "_id": timer_id, "issue_id": f"iss_pending{i:08d}", "target": "x",
                    "kind": "remind", "due": due, "status": "pending", "lease_until": None,
                    "case_version": 1,
                }))  # fmt: skip
                minutes.setdefault(store.minute_of(due), []).append({"id": timer_id, "due": due})
            # far-future buckets are new: whole documents (inserts are FerretDB's fast path)
            hours: dict[int, list[int]] = {}
            for minute, entries in minutes.items():
                ops.append(InsertOne({"_id": f"min:{minute}", "timers": entries}))
                hours.setdefault(minute // 60, []).append(minute)
            for hour, listed in hours.items():
                ops.append(
                    UpdateOne(
                        {"_id": f"hour:{hour}"},
                        {"$addToSet": {"minutes": {"$each": listed}}},
                        upsert=True,
                    )
                )
            for chunk in range(0, len(ops), 500):
                await store.timers.bulk_write(ops[chunk : chunk + 500], ordered=False)

        async def empty_tick_ms(samples: int = 50) -> float:
            times = []
            for _ in range(samples):
                t = time.perf_counter()
                assert await wheel.tick() == 0
                times.append((time.perf_counter() - t) * 1000)
            return statistics.median(times)

        await fill(1000, 0)  # offsets: minutes i % 1000, so later fills reuse no bucket
        small = await empty_tick_ms()
        await fill(PENDING - 1000, 1000)
        assert await store.timers.count_documents({"status": "pending"}) == PENDING
        large = await empty_tick_ms()

        # 300 real cases whose reminders come due 20 ms apart, amid the 100,000 pending
        due_cases = 300
        opened = base
        for i in range(due_cases):
            shift["d"] = opened + timedelta(milliseconds=20 * i) - datetime.now(UTC)
            event = IssueReportedV1(
                issue_id=f"iss_{run}due{i:06d}", category="streetlight-out",
                node_id="sz.tongjiang.niuerqiao.hongqi", description="x", reported_at=opened,
            )  # fmt: skip
            await dispatcher.on_reported(
                Envelope(type=event.event_type, source="/b", subject=""), event
            )
        first_due = min(
            t["due"]
            for t in await store.timers.find({"issue_id": {"$regex": f"^iss_{run}"}}).to_list()
        )
        # play the clock from just before the first reminder, in real time, ticking as dispatch does
        shift["d"] = first_due - timedelta(milliseconds=200) - datetime.now(UTC)
        wheel.lags.clear()
        ticks = []
        end = time.monotonic() + 0.2 + due_cases * 0.02 + 2
        while time.monotonic() < end and len(wheel.lags) < due_cases:
            t = time.perf_counter()
            fired = await wheel.tick()
            ticks.append(((time.perf_counter() - t) * 1000, fired))
            if not fired:
                await asyncio.sleep(0.05)  # the service's tick interval is 0.2 s; 0.05 here
        lags = sorted(wheel.lags)
        assert len(lags) == due_cases, len(lags)
        p99 = lags[int(0.99 * (len(lags) - 1))]
        per_timer = statistics.median(ms / f for ms, f in ticks if f)
    print(
        f"\ntimers: empty tick {small:.2f} ms with 1,000 pending vs {large:.2f} ms with "
        f"{PENDING:,} pending (ratio {large / small:.2f}); firing {due_cases} due timers amid "
        f"{PENDING:,}: lag p50 {lags[len(lags) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {lags[-1] * 1000:.0f} ms; {per_timer:.1f} ms per fired timer (case update + 1 "
        f"event + 1 task published)"
    )
    assert p99 < 5
