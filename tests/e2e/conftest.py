"""The services as separate OS processes, exactly as `make up` runs them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.ops.infra import services as procs
from shared.settings import Settings
from tests.platform import free_port, running_platform
from tests.servers import Endpoints

__all__ = ["free_port", "platform"]


@pytest.fixture(scope="module")
def platform(
    servers: Endpoints, tmp_path_factory
) -> Iterator[tuple[Settings, procs.ServiceProcesses]]:
    with running_platform(servers, tmp_path_factory.mktemp("services"), "e") as running:
        yield running
