"""Which real servers the tests use: named by the environment, else containers when a Docker
engine answers, else the local processes of deploy/local (started here, stopped at the end)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from services.ops.infra.local import CLUSTER_NODES, TEST_STATE_DIR, LocalServers, down, status, up
from shared.settings import Settings

TEST_SERVERS = LocalServers(
    state_dir=TEST_STATE_DIR,
    kafka_port=int(os.environ.get("LINLI_TEST_KAFKA_PORT", "19092")),
    kafka_controller_port=int(os.environ.get("LINLI_TEST_KAFKA_CONTROLLER_PORT", "19093")),
    mongo_port=int(os.environ.get("LINLI_TEST_MONGO_PORT", "37017")),
)


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    mongodb_url: str
    local: LocalServers | None = None  # set when the tests run the local processes


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextmanager
def real_servers() -> Iterator[Endpoints]:
    kafka, mongo = os.environ.get("LINLI_KAFKA_BOOTSTRAP"), os.environ.get("LINLI_MONGODB_URL")
    if kafka and mongo:
        yield Endpoints(kafka, mongo)
        return
    if _docker_answers():
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.mongodb import MongoDbContainer

        with KafkaContainer().with_kraft() as k, MongoDbContainer("mongo:8.0") as m:
            yield Endpoints(k.get_bootstrap_server(), m.get_connection_url())
        return
    already = all(s["running"] for s in status(TEST_SERVERS).values())
    if not already:  # a fresh start: no topics, groups or databases left by earlier sessions
        down(TEST_SERVERS)
        shutil.rmtree(TEST_STATE_DIR, ignore_errors=True)
    up(TEST_SERVERS, progress=lambda line: print(f"[servers] {line}"))
    try:
        yield Endpoints(TEST_SERVERS.kafka_bootstrap, TEST_SERVERS.mongodb_url, TEST_SERVERS)
    finally:
        if not already:  # leave servers someone else started (another session) running
            down(TEST_SERVERS, progress=lambda line: print(f"[servers] {line}"))


@contextmanager
def local_cluster(state_dir) -> Iterator[LocalServers]:
    """Kafka as a three-node cluster with its own FerretDB, as local processes, for the
    duration of the block. Fixed ports below the ephemeral range (which outgoing connections
    draw from): node i on base + 2i, its controller on base + 2i + 1, FerretDB on base + 6
    (base: ``LINLI_TEST_CLUSTER_PORT``, 19192)."""
    base = int(os.environ.get("LINLI_TEST_CLUSTER_PORT", "19192"))
    cluster = LocalServers(state_dir, base, base + 1, base + 6, kafka_nodes=CLUSTER_NODES)
    up(cluster, progress=lambda line: print(f"[cluster] {line}"))
    try:
        yield cluster
    finally:
        down(cluster, progress=lambda line: print(f"[cluster] {line}"))


def isolated_settings(servers: Endpoints, letter: str = "t", **overrides: Any) -> Settings:
    """Settings pointing at the real servers, isolated by a unique topic and database prefix
    (``overrides``: further settings a test needs)."""
    run = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "env": "test",
        "kafka_bootstrap": servers.kafka_bootstrap,
        "mongodb_url": servers.mongodb_url,
        "topic_prefix": f"{letter}{run}.",
        "db_prefix": f"{letter}{run}_",
        "topic_partitions": 2,
        "probe_interval_s": 0.5,
    }
    return Settings(**{**values, **overrides})
