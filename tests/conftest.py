"""Session-wide real servers; each test gets its own topic prefix and databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shared.settings import Settings
from tests.servers import Endpoints, real_servers


@pytest.fixture(scope="session")
def servers() -> Iterator[Endpoints]:
    with real_servers() as endpoints:
        yield endpoints


@pytest.fixture
def settings(servers: Endpoints) -> Settings:
    """Settings pointing at the real servers, isolated by a unique topic and database prefix."""
    run = uuid.uuid4().hex[:8]
    return Settings(
        env="test",
        kafka_bootstrap=servers.kafka_bootstrap,
        mongodb_url=servers.mongodb_url,
        topic_prefix=f"t{run}.",
        db_prefix=f"t{run}_",
        topic_partitions=2,
        probe_interval_s=0.5,
    )
