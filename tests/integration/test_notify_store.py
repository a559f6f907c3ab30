"""Notify's resident records against real FerretDB: the newest contact wins whatever order
records come in, and a report places a resident only where no contact said where they live."""

from datetime import timedelta

import pytest

from services.notify.store import NotifyStore
from shared.events import utcnow
from shared.mongo import make_client
from tests.notify.kit import module_settings, ref

pytestmark = pytest.mark.integration

HOME = ["sz", "sz.tongjiang"]
REPORTED_AT = ["sz", "sz.haitang"]


@pytest.fixture
async def store(servers):
    config = module_settings(servers)
    client = make_client(config.mongodb_url, app_name="test")
    yield NotifyStore(client[config.database_name("notify")])
    await client.close()


async def test_an_older_contact_record_changes_nothing(store):
    who = ref("contact-order")
    now = utcnow().replace(microsecond=0)  # stored times keep milliseconds only
    assert await store.save_contact(who, {"phone": "13800000002"}, now, HOME)
    older = now - timedelta(minutes=5)
    assert not await store.save_contact(who, {"phone": "13800000001"}, older, REPORTED_AT)
    assert not await store.save_contact(who, {"phone": "13800000003"}, now, REPORTED_AT)
    newer = now + timedelta(minutes=5)
    assert await store.save_contact(who, {"email": "a@example.org"}, newer, None)
    doc = await store.resident(who)
    assert doc["phone"] == "13800000002" and doc["email"] == "a@example.org"
    assert doc["nodes"] == HOME


async def test_a_report_places_a_resident_only_where_no_contact_did(store):
    placed, known = ref("placed-by-report"), ref("placed-by-contact")
    await store.place_resident(placed, REPORTED_AT, await store.resident(placed))
    assert (await store.resident(placed))["node_id"] == "sz.haitang"

    await store.save_preferences(known, {"language": "en"})  # a resident without a home yet
    await store.place_resident(known, REPORTED_AT, await store.resident(known))
    await store.save_contact(known, {"phone": "13800000004"}, utcnow(), HOME)
    await store.place_resident(known, ["sz", "sz.other"], await store.resident(known))
    doc = await store.resident(known)
    assert doc["node_id"] == "sz.tongjiang" and doc["prefs"] == {"language": "en"}


async def test_a_deferred_send_is_found_through_its_pointer_once_due(store):
    """Quiet hours park a send: waking reads the small pointer collection, never a scan of
    every delivery; a woken send leaves no pointer behind."""
    now = utcnow()
    for name, due in (("soon", now + timedelta(minutes=5)), ("later", now + timedelta(hours=8))):
        await store.claim(f"dl-{name}", {"resident_ref": ref(name), "channel": "sms"})
        await store.defer(f"dl-{name}", due, attempt=0, retry={"delivery_id": f"dl-{name}"})
    assert await store.due_deferred(now) == []
    [due] = await store.due_deferred(now + timedelta(minutes=10))
    assert due["_id"] == "dl-soon" and due["status"] == "deferred"
    await store.woken("dl-soon")
    assert (await store.deliveries.find_one({"_id": "dl-soon"}))["status"] == "retrying"
    assert await store.due_deferred(now + timedelta(minutes=10)) == []
    assert [d["_id"] for d in await store.due_deferred(now + timedelta(days=1))] == ["dl-later"]
    assert await store.deferred.count_documents({}) == 1
