"""Replication's cost: intake's and dispatch's throughput on a three-broker Kafka cluster
(every topic at replication 3 and min.insync.replicas 2, producers acks=all) beside the same
measured on the one-broker test server in the same run, as a ratio.

Intake: accepted reports per second under saturation (each 202 waits for Kafka's ack), as
``test_intake_bench`` measures it. Dispatch: reports routed per second (case stored,
assignment and task acknowledged), as ``test_dispatch_bench`` measures it. The cluster's three
brokers and its own FerretDB share the machine's two cores with the services and the load, so
the ratio includes the CPU the two extra brokers spend replicating, not just the waits.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest

from shared.kafka.admin import apply_topics
from shared.settings import Settings
from shared.topics import ISSUES_REPORTED, Topic
from tests.bench.test_dispatch_bench import _produce, route_all
from tests.bench.test_intake_bench import CONCURRENCY, SUSTAIN_S, _intake, _load
from tests.servers import local_cluster

pytestmark = pytest.mark.bench
ROUTED = 10_000


def _env(bootstrap: str, mongodb_url: str, replication: int) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "LINLI_ENV": "test",
        "LINLI_KAFKA_BOOTSTRAP": bootstrap,
        "LINLI_MONGODB_URL": mongodb_url,
        "LINLI_TOPIC_PREFIX": f"c{run}.",
        "LINLI_DB_PREFIX": f"c{run}_",
        "LINLI_TOPIC_PARTITIONS": "6",
        "LINLI_TOPIC_REPLICATION": str(replication),
        "LINLI_PROBE_INTERVAL_S": "2",
        "LINLI_INTAKE_RATE_PER_CLIENT": "0",
        "LINLI_LOG_LEVEL": "WARNING",
    }


def intake_rate(bootstrap: str, mongodb_url: str, replication: int) -> float:
    with _intake(_env(bootstrap, mongodb_url, replication), publish=True) as (port, _pid):
        _load(port, "sustained", 1.5, CONCURRENCY)  # warm-up
        result = _load(port, "sustained", SUSTAIN_S, CONCURRENCY)
    statuses = result["statuses"]
    # Under saturation on a shared machine a request may wait past the publish timeout for
    # Kafka's acknowledgement and get 503 (correctly: the report is not taken); the rate counts
    # 202s only, and the share of 503s is printed. Any other answer is a failure.
    assert set(statuses) <= {"202", "503"}, statuses
    print(f"\ncluster bench: intake at replication {replication}: answers {statuses}")
    return result["rate"]


async def dispatch_rate(bootstrap: str, mongodb_url: str, replication: int) -> float:
    run = uuid.uuid4().hex[:6]
    settings = Settings(
        env="test",
        kafka_bootstrap=bootstrap,
        mongodb_url=mongodb_url,
        topic_prefix=f"d{run}.",
        db_prefix=f"d{run}_",
        topic_partitions=4,
        topic_replication=replication,
        log_level="WARNING",
        probe_interval_s=60,
        dispatch_timer_interval_s=0,
    )
    await apply_topics(
        settings.kafka_servers,
        [Topic(ISSUES_REPORTED, "issue id", "", partitions=4)],
        prefix=settings.topic_prefix,
        replication=replication,
    )
    topic = settings.topic_prefix + ISSUES_REPORTED
    await _produce(settings.kafka_servers, topic, ROUTED, run, datetime.now(UTC))
    done, first, elapsed, _cpu = await route_all(settings, ROUTED)
    assert done == ROUTED, done
    return (done - first) / elapsed


async def test_throughput_on_three_brokers_against_one(servers, tmp_path):
    load_before = os.getloadavg()[0]
    one = {
        "intake": intake_rate(servers.kafka_bootstrap, servers.mongodb_url, 1),
        "dispatch": await dispatch_rate(servers.kafka_bootstrap, servers.mongodb_url, 1),
    }
    with local_cluster(tmp_path / "cluster") as cluster:
        three = {
            "intake": intake_rate(cluster.kafka_bootstrap, cluster.mongodb_url, 3),
            "dispatch": await dispatch_rate(cluster.kafka_bootstrap, cluster.mongodb_url, 3),
        }
    for service, what in (("intake", "accepted reports/s"), ("dispatch", "reports routed/s")):
        print(
            f"\ncluster bench: {service} on three brokers (replication 3, min ISR 2) "
            f"{three[service]:,.0f} {what} | one broker, same run: {one[service]:,.0f} | "
            f"ratio {three[service] / one[service]:.2f}"
        )
    print(
        f"cluster bench: machine load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores"
    )
    assert all(rate > 0 for rate in (*one.values(), *three.values()))
