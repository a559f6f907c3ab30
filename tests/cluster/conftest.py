"""One three-broker cluster for every test of this folder (starting it takes tens of seconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.ops.infra.local import LocalServers
from tests.servers import local_cluster


@pytest.fixture(scope="package")
def cluster(tmp_path_factory) -> Iterator[LocalServers]:
    with local_cluster(tmp_path_factory.mktemp("cluster")) as servers:
        yield servers
