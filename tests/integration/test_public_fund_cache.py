"""The public fund page's cache on the real MongoDB-protocol server: a refresh that read the
ledger earlier never overwrites one that read later (two replicas' consumers, or a replayed
event, refreshing the same campaign), and the page's view is read by ``_id``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.web.backends import Backends
from services.web.public.fund_cache import FundCache
from shared.mongo import make_client

pytestmark = pytest.mark.integration


@pytest.fixture
async def cache(settings):
    client = make_client(settings.mongodb_url, app_name="test-public-fund")
    backends = Backends(httpx.AsyncClient(), {"ledger": "http://127.0.0.1:9"})
    yield FundCache(client[settings.database_name("web")], backends, keep_s=0)
    await backends.client.aclose()
    await client.drop_database(settings.database_name("web"))
    await client.close()


async def test_a_later_reading_is_never_overwritten_by_an_earlier_one(cache):
    now = datetime.now(UTC).replace(microsecond=0)
    await cache._put({"_id": "index", "campaigns": [], "verification": {"ok": True}}, now)
    await cache._put({"_id": "index", "campaigns": [], "verification": {"ok": False}},
                     now - timedelta(seconds=1))  # fmt: skip
    stored = await cache.docs.find_one({"_id": "index"})
    assert stored["verification"] == {"ok": True}
    await cache._put({"_id": "index", "campaigns": [], "verification": {"ok": None}},
                     now + timedelta(seconds=1))  # fmt: skip
    view = await cache.view()
    assert view is not None and view.verification == {"ok": None} and view.campaigns == []
