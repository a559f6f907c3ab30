"""The four services as separate OS processes, exactly as `make up` runs them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from services.ops.infra import services as procs
from shared.settings import Settings
from shared.topics import SERVICES
from tests.servers import Endpoints, isolated_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def platform(
    servers: Endpoints, tmp_path_factory
) -> Iterator[tuple[Settings, procs.ServiceProcesses]]:
    settings = isolated_settings(servers, "e")
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
