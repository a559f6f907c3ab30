"""Dispatch's storage on the real FerretDB: the change documents are a compare-and-set (two
writers of one version: one wins), a reader rolls a stale head forward and repairs it, and
the timer wheel never lets an entry fall behind a tick (a minute sealed by a tick sends
later entries to the minute after the seal)."""

from datetime import UTC, datetime, timedelta

import pytest

from services.dispatch.store import CaseStore, Conflict, pack, unpack
from services.dispatch.wheel import WheelStore, minute_of
from shared.mongo import make_client

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def case(issue_id: str, version: int, status: str) -> dict:
    return {
        "_id": issue_id,
        "category": "streetlight-out",
        "priority": "normal",
        "node_id": "sz.tongjiang.niuerqiao.hongqi",
        "status": status,
        "owner": {"kind": "department", "code": "water"},
        "duties": [],
        "supervisor": "sz.tongjiang",
        "version": version,
    }


@pytest.fixture
async def db(settings):
    client = make_client(settings.mongodb_url, app_name="test")
    yield client[f"{settings.db_prefix}dispatch"]
    await client.drop_database(f"{settings.db_prefix}dispatch")
    await client.close()


async def test_one_writer_wins_a_version_and_a_stale_head_rolls_forward(db):
    store = CaseStore(db)
    assert await store.insert_cases([case("iss_a", 1, "assigned")]) == set()
    assert await store.insert_cases([case("iss_a", 1, "other")]) == {"iss_a"}  # stored wins
    await store.commit(case("iss_a", 2, "acknowledged"), [])
    with pytest.raises(Conflict):
        await store.commit(case("iss_a", 2, "rejected"), [])  # read version 1 too: refused
    # the winner has not replaced the head yet: readers see version 2 all the same
    assert (await store.get("iss_a"))["status"] == "acknowledged"
    await store.commit(case("iss_a", 3, "in_progress"), [])
    await store.put_head(case("iss_a", 3, "in_progress"))
    # a late head write of version 2 lands after version 3's: the next reader repairs it
    await db["cases"].replace_one({"_id": "iss_a"}, pack(case("iss_a", 2, "acknowledged")))
    assert (await store.get("iss_a"))["version"] == 3
    assert unpack(await db["cases"].find_one({"_id": "iss_a"}))["version"] == 3


async def test_a_sealed_minute_sends_later_entries_after_the_seal(db):
    wheel = WheelStore(db)
    due = NOW + timedelta(minutes=5)
    cursor = await wheel.cursor(minute_of(NOW))
    assert cursor == minute_of(NOW) - 1
    # a tick at due + 2 min seals every minute up to due + 1 min
    sealed_upto = minute_of(due) + 1
    assert await wheel.seal(cursor, sealed_upto) == []
    await wheel.enlist([{"i": "iss_b", "t": "water", "k": "remind", "d": due}], NOW)
    stale = await wheel.chunk_ids(minute_of(due))  # registered, then seen sealed: emptied
    assert all(entries == [] for entries in (await wheel.chunks(stale)).values())
    [chunk] = await wheel.chunk_ids(sealed_upto + 1)  # ...but in the first one after it
    assert (await wheel.chunks([chunk]))[chunk][0]["d"] == due
    assert await wheel.seal(sealed_upto, sealed_upto + 5) == [sealed_upto + 1]


async def test_keys_are_listed_without_secrets_and_revoked_by_the_cli(db, settings):
    """``linli dispatch keys list`` and ``revoke``: a revoked key neither authenticates nor
    signs; the list never shows a key or a signing secret."""
    import asyncio

    from typer.testing import CliRunner

    from services.ops.cli.main import app as cli
    from shared.events.dispatch import key_id

    store = CaseStore(db)
    key = "lk_test_" + "k" * 20
    await store.add_key(key, "department", "water", NOW)
    assert await store.principal(key) is not None
    assert (await store.signing_key(key_id(key)))["code"] == "water"
    env = {"LINLI_MONGODB_URL": settings.mongodb_url, "LINLI_DB_PREFIX": settings.db_prefix}

    def linli(*args):  # the CLI runs its own event loop: in a thread of its own here
        return asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)

    listed = await linli("dispatch", "keys", "list")
    assert listed.exit_code == 0, listed.output
    assert f"{key_id(key)[:16]}  department  water" in listed.stdout
    assert "active" in listed.stdout and key not in listed.output
    revoked = await linli("dispatch", "keys", "revoke", key_id(key)[:10])
    assert revoked.exit_code == 0, revoked.output
    assert await store.principal(key) is None
    assert await store.signing_key(key_id(key)) is None
    again = await linli("dispatch", "keys", "revoke", key_id(key)[:10])
    assert again.exit_code == 1
    listed = await linli("dispatch", "keys", "list")
    assert "revoked" in listed.stdout
