"""Intake benchmark: sustained accepted reports per second with real Kafka (acks=all,
idempotent producer; a 202 only after Kafka's ack) beside a baseline of the same app answering
without publishing, measured in the same run, and the latency of an open-loop load of 500
reports per second.

Floors (issue 3): >= 1,500 accepted/s, >= 40 % of the baseline, p99 <= 50 ms at 500/s.

The app runs as its own process (``tests.bench.intake_server``: uvicorn on 127.0.0.1, real
HTTP, as ``python -m services.intake`` serves it) and the load comes from another process
(``tests.bench.loadgen``), so the load generator never takes the app's event loop. The baseline
is the same process set-up with ``--no-publish``: everything up to the producer runs, the
hand-over to Kafka answers at once. Each app is warmed up first; the open loop runs at the
steady rate before the saturating run (after it, the read model's backlog would be measured).
All of it shares the machine's cores with Kafka and FerretDB, so the figures are noisy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.bench.processes import ROOT, cpu_seconds, free_port, service_process

pytestmark = pytest.mark.bench
SUSTAIN_S = float(os.environ.get("LINLI_BENCH_SECONDS", "8"))
# enough reports in flight to saturate: each waits for Kafka's ack, so by Little's law 1,500/s
# at ~100 ms under this machine's load needs ~150 of them (64 measured the latency, not intake)
CONCURRENCY = int(os.environ.get("LINLI_BENCH_CONCURRENCY", "256"))
OPEN_LOOP_RATE = 500
OPEN_LOOP_S = 6.0
OPEN_LOOP_CONNECTIONS = 64
FLOOR_RATE, FLOOR_RATIO, FLOOR_P99_MS = 1500.0, 0.40, 50.0
# the floors fail the bench only when asked: on a machine that other work loads, the rates
# and latencies follow that load more than the app (the verdicts are printed either way)
ASSERT_FLOORS = os.environ.get("LINLI_BENCH_ASSERT_FLOORS", "") == "1"
CONSUMED = re.compile(
    r'^linli_events_consumed_total\{(?=[^}]*service="intake")(?=[^}]*outcome="ok")'
    r'(?=[^}]*topic="issues\.reported")[^}]*\} ([0-9.e+]+)$',
    re.MULTILINE,
)


@contextmanager
def _intake(env: dict[str, str], *, publish: bool) -> Iterator[tuple[int, int]]:
    """An intake process on a free port, ready (its /readyz says so) until the block ends."""
    port = free_port()
    args = ["tests.bench.intake_server", "--port", str(port)]
    with service_process(args + ([] if publish else ["--no-publish"]), env, port) as pid:
        yield port, pid


def _load(port: int, *args: object) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.loadgen", str(port), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


def _consumed(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(value) for value in CONSUMED.findall(text))


def _caught_up(port: int, reports: int, timeout_s: float = 20.0) -> None:
    """Wait until the read model has recorded the warm-up's reports (it joins its consumer
    group and catches up after start), so the timed runs measure the steady state."""
    deadline = time.monotonic() + timeout_s
    while _consumed(port) < reports and time.monotonic() < deadline:
        time.sleep(0.2)


def _measured(pid: int, port: int, *args: object) -> dict:
    """A load run, with the app's CPU time per accepted request (microseconds)."""
    before = cpu_seconds(pid)
    result = _load(port, *args)
    result["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(1, result["statuses"].get("202", 0))
    return result


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def test_report_intake_throughput_and_latency(servers):
    load_before = os.getloadavg()[0]
    run = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "LINLI_ENV": "test",
        "LINLI_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "LINLI_MONGODB_URL": servers.mongodb_url,
        "LINLI_TOPIC_PREFIX": f"b{run}.",
        "LINLI_DB_PREFIX": f"b{run}_",
        "LINLI_TOPIC_PARTITIONS": "6",
        "LINLI_PROBE_INTERVAL_S": "2",
        "LINLI_INTAKE_RATE_PER_CLIENT": "0",
        "LINLI_LOG_LEVEL": "WARNING",
    }
    with _intake(env, publish=False) as (port, pid):
        _load(port, "sustained", 1.5, CONCURRENCY)  # warm-up: connections, code paths
        baseline = _measured(pid, port, "sustained", SUSTAIN_S, CONCURRENCY)
    with _intake(env, publish=True) as (port, pid):
        warm_up = _load(port, "sustained", 1.5, CONCURRENCY)  # the producer's too
        _caught_up(port, warm_up["statuses"].get("202", 0))
        latency = _measured(pid, port, "open", OPEN_LOOP_RATE, OPEN_LOOP_S, OPEN_LOOP_CONNECTIONS)
        consumed_before, started = _consumed(port), time.perf_counter()
        with_kafka = _measured(pid, port, "sustained", SUSTAIN_S, CONCURRENCY)
        read_model_rate = (_consumed(port) - consumed_before) / (time.perf_counter() - started)

    rate, base = with_kafka["rate"], baseline["rate"]
    ratio = rate / base
    print(
        f"\nintake bench: with Kafka acks=all {rate:,.0f} accepted reports/s "
        f"(answers {with_kafka['statuses']}); baseline without publishing {base:,.0f} "
        f"reports/s; ratio {ratio:.0%} (concurrency {CONCURRENCY}, {SUSTAIN_S:.0f} s each; "
        f"p99 under saturation {with_kafka['p99']:.0f} ms with Kafka, "
        f"{baseline['p99']:.0f} ms baseline)"
    )
    print(
        f"intake bench: open loop {OPEN_LOOP_RATE}/s for {OPEN_LOOP_S:.0f} s with Kafka: "
        f"p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms, p99 {latency['p99']:.1f} ms, "
        f"max {latency['max']:.1f} ms, answers {latency['statuses']}"
    )
    print(
        f"intake bench: app CPU per accepted report: {with_kafka['cpu_us']:.0f} us with Kafka "
        f"saturated (read model included), {baseline['cpu_us']:.0f} us baseline, "
        f"{latency['cpu_us']:.0f} us at {OPEN_LOOP_RATE}/s with Kafka"
    )
    print(
        f"intake bench: the read model (same process) recorded {read_model_rate:,.0f} "
        "reports/s during the saturating run (it lags under it and catches up afterwards)"
    )
    floors = {
        f"accepted/s >= {FLOOR_RATE:,.0f}": rate >= FLOOR_RATE,
        f"ratio >= {FLOOR_RATIO:.0%}": ratio >= FLOOR_RATIO,
        f"p99 at {OPEN_LOOP_RATE}/s <= {FLOOR_P99_MS:.0f} ms": latency["p99"] <= FLOOR_P99_MS,
    }
    print(
        "intake bench: floors: "
        + "; ".join(f"{k} {_verdict(v)}" for k, v in floors.items())
        + f" (machine load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"{os.cpu_count()} cores)"
    )
    assert set(with_kafka["statuses"]) == {"202"} and set(latency["statuses"]) == {"202"}
    assert set(baseline["statuses"]) == {"202"}
    if ASSERT_FLOORS:
        assert all(floors.values()), f"floors not met: {floors}"
