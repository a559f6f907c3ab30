"""The four services as separate OS processes, exactly as `make up` runs them."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from shared.infra import services as procs
from shared.settings import Settings
from shared.topics import SERVICES
from tests.servers import Endpoints


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def platform(
    servers: Endpoints, tmp_path_factory
) -> Iterator[tuple[Settings, procs.ServiceProcesses]]:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        env="test",
        kafka_bootstrap=servers.kafka_bootstrap,
        mongodb_url=servers.mongodb_url,
        topic_prefix=f"e{run}.",
        db_prefix=f"e{run}_",
        topic_partitions=2,
    )
    processes = procs.ServiceProcesses(
        state_dir=tmp_path_factory.mktemp("services"),
        env={
            "LINLI_ENV": "test",
            "LINLI_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "LINLI_MONGODB_URL": settings.mongodb_url,
            "LINLI_TOPIC_PREFIX": settings.topic_prefix,
            "LINLI_DB_PREFIX": settings.db_prefix,
            "LINLI_TOPIC_PARTITIONS": "2",
            "LINLI_PROBE_INTERVAL_S": "0.5",
            "LINLI_LOG_FORMAT": "json",
        },
        ports={service: free_port() for service in SERVICES},
    )
    procs.start(processes)
    try:
        procs.wait_ready(processes, timeout_s=90)
        yield settings, processes
    finally:
        procs.stop(processes)
