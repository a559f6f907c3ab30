"""The services as separate OS processes, exactly as `make up` runs them, for the e2e and web
tests: one way to choose their ports and to start and stop them."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from services.ops.infra import services as procs
from shared.settings import Settings
from shared.topics import SERVICES
from tests.servers import Endpoints, isolated_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_ports() -> dict[str, int]:
    """Fixed ports from ``LINLI_TEST_SERVICE_PORT_BASE`` (base, base+1, ...), else free ones."""
    base = os.environ.get("LINLI_TEST_SERVICE_PORT_BASE")
    if base:
        return {service: int(base) + i for i, service in enumerate(SERVICES)}
    return {service: free_port() for service in SERVICES}


@contextmanager
def running_platform(
    servers: Endpoints,
    state_dir: Path,
    tag: str,
    *,
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 90,
    only: Mapping[str, int] | None = None,
) -> Iterator[tuple[Settings, procs.ServiceProcesses]]:
    """Every service (or ``only`` these, on these ports) started in isolated topics and
    databases (``tag``), ready, then stopped."""
    settings = isolated_settings(servers, tag)
    processes = procs.ServiceProcesses(
        state_dir=state_dir,
        env={
            "LINLI_ENV": "test",
            "LINLI_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "LINLI_MONGODB_URL": settings.mongodb_url,
            "LINLI_TOPIC_PREFIX": settings.topic_prefix,
            "LINLI_DB_PREFIX": settings.db_prefix,
            "LINLI_TOPIC_PARTITIONS": "2",
            "LINLI_PROBE_INTERVAL_S": "0.5",
            "LINLI_LOG_FORMAT": "json",
            **(env or {}),
        },
        ports=dict(only) if only else service_ports(),
    )
    services = list(only or SERVICES)
    say = _quiet if only else print
    procs.start(processes, services, progress=say)
    try:
        procs.wait_ready(processes, services, timeout_s=ready_timeout_s, progress=say)
        yield settings, processes
    finally:
        procs.stop(processes, services, progress=say)


def _quiet(_: str) -> None:
    """A single service's start and stop say nothing in the tests' output."""
