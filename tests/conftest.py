"""Session-wide real servers; each test gets its own topic prefix and databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.settings import Settings
from tests.servers import Endpoints, isolated_settings, real_servers


@pytest.fixture(scope="session")
def servers() -> Iterator[Endpoints]:
    with real_servers() as endpoints:
        yield endpoints


@pytest.fixture
def settings(servers: Endpoints) -> Settings:
    return isolated_settings(servers)
