"""Dispatch benchmark, each figure beside a baseline measured in the same run.

1. Issues routed per second (case stored, assignment event and department task published and
   acknowledged, timers placed, offsets committed) vs a raw consume-and-produce of the same
   messages with no logic. Floors: 2,000/s and 40% of the baseline, printed as met or missed;
   not asserted. With routing streamed per partition (the next fetch routed while the last is
   still being written), measured at 3,300-4,400/s at a load average of 1-1.5 on the shared
   2-core machine (2,300-3,000/s before), against a baseline of 16,500-20,800 msgs/s: a ratio of
   0.17-0.23. Also printed: the CPU each process spends per routed report (dispatch ~0.18-0.24
   ms, FerretDB ~0.15-0.19 ms, Kafka ~0.02-0.06 ms), and a second reference: FerretDB alone
   inserting the same case documents the same way (8,000-10,000 docs/s when the machine is
   quiet, using more than one core), which bounds routing far below the raw Kafka baseline:
   40% of it is not reachable while each case is stored in FerretDB on SQLite and the same
   two cores run dispatch and Kafka.
2. With 100,000 pending timers: the cost of one tick vs the same tick with 1,000 pending (it
   must not grow: asserted), and the firing lag p99 of 300 timers coming due amid them
   (floor 1 s: printed as met or missed, as it depends on how busy the machine is).
"""

import asyncio
import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from services.dispatch.app import ROUTE_BATCH, create_app
from services.dispatch.application import ROUTE_PART
from services.dispatch.domain.machine import timers
from services.dispatch.store import CaseStore, case_from_doc
from shared.events import Envelope, IssueReportedV1
from shared.kafka.admin import apply_topics
from shared.settings import Settings
from shared.topics import ISSUES_REPORTED, Topic
from tests.bench.processes import (
    cpu_seconds,
    free_port,
    server_pids,
    service_process,
    settings_env,
)
from tests.helpers import serving

pytestmark = pytest.mark.bench
ISSUES = 20_000
ROUTED_FLOOR, RATIO_FLOOR = 2000, 0.40
LAG_FLOOR_S, TICK_GROWTH_MAX = 1.0, 2.0
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
        # readiness is probed once a minute: its work is not routing's (each probe now asks
        # for one topic's metadata; it used to describe the whole cluster every 2 s)
        probe_interval_s=60,
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
            headers = env.record_headers()
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


async def _raw_inserts(db, docs: list[dict], batch: int, part: int) -> float:
    """FerretDB alone: the same stored case documents inserted as dispatch inserts them
    (batches of ``batch``, parts of ``part`` concurrently), nothing else; docs/s."""
    target = db[f"raw_{uuid.uuid4().hex[:6]}"]
    started = time.perf_counter()
    for b in range(0, len(docs), batch):
        chunk = docs[b : b + batch]
        await asyncio.gather(
            *(target.insert_many(chunk[i : i + part], ordered=False)
              for i in range(0, len(chunk), part))
        )  # fmt: skip
    return len(docs) / (time.perf_counter() - started)


ROUTED = re.compile(
    r'^linli_events_consumed_total\{(?=[^}]*service="dispatch")(?=[^}]*outcome="ok")'
    r'(?=[^}]*topic="issues\.reported")[^}]*\} ([0-9.e+]+)$',
    re.MULTILINE,
)


def _routed(metrics: str) -> int:
    """Reports routed so far, from the dispatch process's /metrics."""
    return int(sum(float(value) for value in ROUTED.findall(metrics)))


def _met(ok: bool) -> str:
    return "floor met" if ok else "FLOOR MISSED"


async def route_all(settings: Settings, n: int) -> tuple[int, int, float, dict[str, float]]:
    """Run dispatch as its own process until it has routed ``n`` reports already in
    ``issues.reported``: (routed, routed when timing began, seconds from the first batch done
    to the last, CPU seconds each process spent meanwhile)."""
    port = free_port()
    env = settings_env(settings, LINLI_DISPATCH_PORT=str(port))
    with service_process(["services.dispatch"], env, port) as pid:
        # routed = stored, events acknowledged, timers placed (the handler's outcome, counted
        # before the offsets are committed); timed from the first batch done to the last
        done, first, began = 0, 0, 0.0
        pids = server_pids() | {"dispatch": pid}
        cpu: dict[str, float] = {}
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            while time.monotonic() < deadline:
                done = _routed((await client.get("/metrics")).text)
                if done and not began:
                    first, began = done, time.perf_counter()
                    cpu = {name: cpu_seconds(p) for name, p in pids.items()}
                if done >= n:
                    break
                await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - began
        used = {name: cpu_seconds(pids[name]) - c for name, c in cpu.items()}
    return done, first, elapsed, used


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

    done, first, elapsed, used = await route_all(settings, ISSUES)
    client = AsyncMongoClient(settings.mongodb_url, tz_aware=True)
    try:
        store = CaseStore(client[settings.database_name("dispatch")])
        assert done == ISSUES, done
        assert await store.pending_count() == 0  # every change's side effects confirmed
        assert await store.cases.count_documents({}) == ISSUES
        stored = await store.cases.find({}).to_list()
        ferret = await _raw_inserts(store.db, stored, ROUTE_BATCH, ROUTE_PART)
    finally:
        await client.close()
    rate = (done - first) / elapsed
    ratio = rate / baseline
    per_report = ", ".join(f"{n} {s * 1000 / (done - first):.2f} ms" for n, s in used.items())
    print(
        f"\ndispatch routing: {rate:,.0f} issues/s routed (stored + assignment + task acked + "
        f"timers placed) | baseline raw consume-and-produce: {baseline:,.0f} msgs/s | ratio "
        f"{ratio:.2f} | floor {ROUTED_FLOOR:,}/s: {_met(rate >= ROUTED_FLOOR)}; floor "
        f"{RATIO_FLOOR:.0%} of baseline: {_met(ratio >= RATIO_FLOOR)}\n"
        f"dispatch routing: CPU per routed report: {per_report} | second reference, FerretDB "
        f"alone inserting the same case documents the same way: {ferret:,.0f} docs/s (routing "
        f"reaches {rate / ferret:.2f} of it)"
    )
    # The routing floors are printed, not asserted: the absolute one is met only while the
    # machine is quiet, the ratio never (see the module docstring); the timer floors below are.
    assert rate > 0


@pytest.mark.timeout(120)
async def test_timer_tick_cost_and_lag_with_100k_pending(servers):
    run = uuid.uuid4().hex[:6]
    settings = _settings(servers, run, dispatch_timer_interval_s=0, dispatch_timer_batch=500)
    base = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Monday 09:00 Shanghai
    shift = {"d": base - datetime.now(UTC)}
    app = create_app(settings, clock=lambda: datetime.now(UTC) + shift["d"])
    wheel_store, wheel, dispatcher = app.state.wheel, app.state.timers, app.state.dispatcher
    async with serving(app):
        far = base + timedelta(days=30)

        async def fill(count: int, offset: int) -> float:
            """Pending timers a month ahead, placed through the wheel's bulk path; seconds."""
            entries = [
                {
                    "i": f"iss_pending{i:08d}", "t": "x", "k": "remind",
                    "d": far + timedelta(minutes=i % 1000 + (0 if i < 1000 else 1000),
                                         seconds=i % 60),
                }
                for i in range(offset, offset + count)
            ]  # fmt: skip
            started = time.perf_counter()
            for chunk in range(0, len(entries), 20_000):
                await wheel_store.enlist(entries[chunk : chunk + 20_000], dispatcher.clock())
            return time.perf_counter() - started

        async def empty_tick_ms(samples: int = 50) -> float:
            times = []
            for _ in range(samples):
                t = time.perf_counter()
                assert await wheel.tick() == 0
                times.append((time.perf_counter() - t) * 1000)
            return statistics.median(times)

        await fill(1000, 0)
        small = await empty_tick_ms()
        fill_s = await fill(PENDING - 1000, 1000)
        chunks = await wheel_store.wheel.find({"_id": {"$regex": "^chunk:"}}).to_list()
        assert sum(len(c["entries"]) for c in chunks) == PENDING
        large = await empty_tick_ms()

        # 300 real cases whose reminders come due 20 ms apart, amid the 100,000 pending
        due_cases = 300
        ids = [f"iss_{run}due{i:06d}" for i in range(due_cases)]
        for i, issue_id in enumerate(ids):
            shift["d"] = base + timedelta(milliseconds=20 * i) - datetime.now(UTC)
            event = IssueReportedV1(
                issue_id=issue_id, category="streetlight-out",
                node_id="sz.tongjiang.niuerqiao.hongqi", description="x", reported_at=base,
            )  # fmt: skip
            await dispatcher.on_reported(
                Envelope(type=event.event_type, source="/b", subject=""), event
            )
        docs = await app.state.store.heads(ids)
        first_due = min(t.due for d in docs for t in timers(case_from_doc(d), dispatcher.rules))
        # play the clock from just before the first reminder, in real time, ticking as dispatch does
        shift["d"] = first_due - timedelta(milliseconds=200) - datetime.now(UTC)
        wheel.lags.clear()
        ticks = []
        end = time.monotonic() + 0.2 + due_cases * 0.02 + 5
        while time.monotonic() < end and len(wheel.lags) < due_cases:
            t = time.perf_counter()
            fired = await wheel.tick(wait=False)  # as the service's loop does
            ticks.append(((time.perf_counter() - t) * 1000, fired))
            if not fired:
                await asyncio.sleep(0.05)  # the service's tick interval is 0.2 s; 0.05 here
        lags = sorted(wheel.lags)
        assert len(lags) == due_cases, len(lags)
        p99 = lags[int(0.99 * (len(lags) - 1))]
        tick_ms = statistics.median(ms for ms, _ in ticks)
    growth = large / small
    print(
        f"\ntimers: empty tick {large:.2f} ms with {PENDING:,} pending | baseline {small:.2f} ms "
        f"with 1,000 pending | ratio {growth:.2f} (max {TICK_GROWTH_MAX}: "
        f"{_met(growth <= TICK_GROWTH_MAX)}); placing {PENDING - 1000:,} timers took "
        f"{fill_s:.1f} s\ntimers: firing {due_cases} due amid {PENDING:,} pending: lag p50 "
        f"{lags[len(lags) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {lags[-1] * 1000:.0f}"
        f" ms (p99 floor {LAG_FLOOR_S:.0f} s: {_met(p99 <= LAG_FLOOR_S)}); a tick took "
        f"{tick_ms:.1f} ms (median; each firing runs in the background: case change + 1 event "
        f"+ 1 task published + next timer placed)"
    )
    # the tick's cost is asserted (met in every run); the lag floor is printed: met at a load
    # average up to ~5 (p99 0.3-0.9 s), missed at 6-9 on the shared machine (p99 1.4-4.8 s)
    assert growth <= TICK_GROWTH_MAX
