"""The ledger's edges against real Kafka and FerretDB: amounts are JSON integers within a
documented bound (on HTTP and on both topics), unknown campaigns are refused, one bad record
never jams a fund's partition, a refused reversal does not block the next, goods and cash are
kept apart, a conflicting payment callback is a dead letter, the server stamps decision times,
a replay re-sends the identical receipt, and `verify`/`export` (checked by hledger) hold."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from services.ledger.chain import verify
from shared.events import DonationReceivedV1, Envelope
from shared.events.ledger import MAX_AMOUNT_FEN, DisbursementRequestedV1
from shared.settings import Settings
from shared.topics import LEDGER_COMMANDS, LEDGER_DONATIONS, LEDGER_RECEIPTS, dead_letters
from tests.helpers import eventually, produce, produce_event, read_topic
from tests.integration import ledger_fixtures
from tests.integration.ledger_fixtures import PARTIES, clerk_and_approvers
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
store, ledger = ledger_fixtures.store, ledger_fixtures.ledger  # the shared fixtures

FUND = "edge-fund"
RICE = "rice-fund"
AT = datetime(2026, 11, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def settings(servers) -> Settings:
    return isolated_settings(servers, "le", topic_partitions=1, ledger_command_wait_s=6.0)


@pytest.fixture(scope="module")
async def keys(store, ledger):
    keys = await clerk_and_approvers(store, ["*"])
    for fund in (FUND, RICE):
        campaign = {
            "id": fund,
            "name": fund,
            "goal_fen": 1_000_000,
            "starts": "2026-10-01",
            "ends": "2027-03-31",
            "projects": ["warm-packs"],
        }
        r = await ledger.post("/api/v1/campaigns", json=campaign, headers=keys["clerk"])
        assert r.status_code == 201, r.text
    return keys


def donation(donation_id: str, amount_fen, **extra) -> dict:
    return {
        "donation_id": donation_id,
        "campaign": FUND,
        "channel": "offline",
        "amount_fen": amount_fen,
        "receipt_book_no": "JZ-1",
        "received_at": "2026-11-10T10:00:00+08:00",
        **extra,
    }


def error_of(r) -> dict:
    [error] = r.json()["errors"]
    return error


async def dead_letters_of(settings, expect: int) -> list:
    return await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + dead_letters("ledger"), expect=expect
    )


async def test_amounts_are_integers_within_the_bound_on_http(ledger, keys):
    clerk = keys["clerk"]
    for bad in (2**63, MAX_AMOUNT_FEN + 1, "100", True, 100.5, 0, -5):
        r = await ledger.post("/api/v1/donations", json=donation("d-bad", bad), headers=clerk)
        assert r.status_code == 422, (bad, r.text)
        assert error_of(r)["field"] == "body.amount_fen", r.text
    r = await ledger.post(
        "/api/v1/donations", json=donation("d-max", MAX_AMOUNT_FEN), headers=clerk
    )
    assert r.status_code == 201, r.text
    request = {
        "disbursement_id": "sp-bad",
        "fund": FUND,
        "project": "warm-packs",
        "payee": "x",
        "purpose": "y",
    }
    for bad in (2**63, "100", True):
        r = await ledger.post(
            "/api/v1/disbursements", json={**request, "amount_fen": bad}, headers=clerk
        )
        assert (r.status_code, error_of(r)["field"]) == (422, "body.amount_fen"), r.text
    inkind = donation("d-q", 100, channel="in-kind", item="rice", valuation_method="invoice")
    r = await ledger.post("/api/v1/donations", json={**inkind, "quantity": "3"}, headers=clerk)
    assert (r.status_code, error_of(r)["field"]) == (422, "body.quantity"), r.text
    r = await ledger.post("/api/v1/donations", json={**inkind, "item": "bank"}, headers=clerk)
    assert (r.status_code, error_of(r)["field"]) == (422, "body.item"), r.text  # cash's name
    campaign = {"id": "c-bad", "name": "x", "starts": "2026-10-01", "ends": "2027-01-01",
                "projects": ["p"]}  # fmt: skip
    for bad in ("100", 2**63):
        r = await ledger.post(
            "/api/v1/campaigns", json={**campaign, "goal_fen": bad}, headers=clerk
        )
        assert (r.status_code, error_of(r)["field"]) == (422, "body.goal_fen"), r.text


async def test_a_bad_record_on_either_topic_is_a_dead_letter_and_the_partition_goes_on(
    settings, ledger, keys, store
):
    """2^63 fen, "100" or true in a payment callback or a command: dead-lettered at once with
    the reason, and the next command of the same fund (same partition) is answered."""
    good = DonationReceivedV1(
        donation_id="cb-ok", campaign=FUND, channel="online", amount_fen=700, received_at=AT
    )
    body = json.loads(good.model_dump_json())
    envelope = Envelope(type=good.event_type, source="/test/pay", subject="cb")
    for n, bad in enumerate((2**63, "100", True)):
        await produce(
            settings.kafka_bootstrap,
            settings.topic_prefix + LEDGER_DONATIONS,
            json.dumps({**body, "donation_id": f"cb-bad-{n}", "amount_fen": bad}).encode(),
            key=FUND.encode(),
            headers=envelope.record_headers(),
        )
    spend = DisbursementRequestedV1(
        disbursement_id="cmd-bad", fund=FUND, project="warm-packs", amount_fen=1, payee="p",
        purpose="p", requested_by="k", requested_at=AT,
    )  # fmt: skip
    raw = {**json.loads(spend.model_dump_json()), "amount_fen": 2**63}
    command = Envelope(type=spend.event_type, source="/test", subject="cmd-bad")
    await produce(
        settings.kafka_bootstrap,
        settings.topic_prefix + LEDGER_COMMANDS,
        json.dumps(raw).encode(),
        key=FUND.encode(),
        headers=command.record_headers(),
    )
    await produce_event(
        settings.kafka_bootstrap, settings.topic_prefix + LEDGER_DONATIONS, good, key=FUND
    )
    await eventually(lambda: store.entry("donation:cb-ok"), timeout_s=30)
    r = await ledger.post("/api/v1/donations", json=donation("d-after", 300), headers=keys["clerk"])
    assert r.status_code == 201, r.text  # the fund's partition of ledger.commands goes on
    dead = await dead_letters_of(settings, 4)
    errors = [dict(d.headers)["dlq_error"].decode() for d in dead]
    assert len([e for e in errors if "amount_fen" in e]) == 4, errors


async def test_unknown_campaigns_are_refused(settings, ledger, keys, store):
    r = await ledger.post(
        "/api/v1/donations",
        json=donation("d-nowhere", 100, campaign="no-such"),
        headers=keys["clerk"],
    )
    assert r.status_code == 404, r.text
    assert error_of(r)["field"] == "body.campaign"
    callback = DonationReceivedV1(
        donation_id="cb-nowhere", campaign="no-such-2", channel="online", amount_fen=100,
        received_at=AT,
    )  # fmt: skip
    await produce_event(
        settings.kafka_bootstrap, settings.topic_prefix + LEDGER_DONATIONS, callback, key="x"
    )

    async def refused() -> list:
        return [
            d
            for d in await dead_letters_of(settings, 1)
            if b"cb-nowhere" in d.value and b"no-such-2" in dict(d.headers)["dlq_error"]
        ]

    await eventually(refused, timeout_s=30)
    assert await store.fund_doc("no-such") is None and await store.fund_doc("no-such-2") is None


async def test_a_refused_reversal_does_not_block_the_next_one(ledger, keys):
    clerk = keys["clerk"]
    fund = {"campaign": RICE}
    r = await ledger.post("/api/v1/donations", json=donation("rv-d", 1000, **fund), headers=clerk)
    assert r.status_code == 201, r.text
    spend = {"disbursement_id": "rv-hold", "fund": RICE, "project": "warm-packs",
             "amount_fen": 600, "payee": "p", "purpose": "p"}  # fmt: skip
    r = await ledger.post("/api/v1/disbursements", json=spend, headers=clerk)
    assert r.status_code == 201, r.text
    reversal = {"fund": RICE, "original_entry_id": "donation:rv-d", "reason": "typo"}
    r = await ledger.post(
        "/api/v1/reversals", json={**reversal, "reversal_id": "rv-1"}, headers=clerk
    )
    assert (r.status_code, error_of(r)["code"]) == (409, "overspend"), r.text
    r = await ledger.post("/api/v1/disbursements/rv-hold/void", headers=clerk)
    assert r.status_code == 201, r.text
    r = await ledger.post(
        "/api/v1/reversals", json={**reversal, "reversal_id": "rv-2"}, headers=clerk
    )
    assert r.status_code == 201, r.text
    r = await ledger.post(
        "/api/v1/reversals", json={**reversal, "reversal_id": "rv-3"}, headers=clerk
    )
    assert (r.status_code, error_of(r)["code"]) == (409, "already_reversed"), r.text
    assert "rv-2" in error_of(r)["message"]


async def test_goods_and_cash_are_kept_apart(ledger, keys):
    clerk = keys["clerk"]
    fund = "goods-only"
    campaign = {"id": fund, "name": fund, "goal_fen": 0, "starts": "2026-10-01",
                "ends": "2027-03-31", "projects": ["meals"]}  # fmt: skip
    assert (await ledger.post("/api/v1/campaigns", json=campaign, headers=clerk)).is_success
    rice = donation("g-rice", 50_000, campaign=fund, channel="in-kind", item="rice",
                    valuation_method="invoice", quantity=100)  # fmt: skip
    rice.pop("receipt_book_no")
    r = await ledger.post("/api/v1/donations", json=rice, headers=clerk)
    assert r.status_code == 201, r.text
    spend = {"fund": fund, "project": "meals", "payee": "p", "purpose": "p"}

    async def request(disbursement_id, amount_fen, source):
        body = {**spend, "disbursement_id": disbursement_id, "amount_fen": amount_fen}
        return await ledger.post(
            "/api/v1/disbursements", json={**body, "source": source}, headers=clerk
        )

    r = await request("g-cash", 50_000, "bank")  # no cash in this fund, only rice
    assert (r.status_code, error_of(r)["code"]) == (409, "overspend"), r.text
    assert error_of(r)["would_leave_fen"] == -50_000
    r = await request("g-oil", 100, "oil")  # never received
    assert (r.status_code, error_of(r)["field"]) == (422, "body.source"), r.text
    r = await request("g-more", 50_001, "rice")  # more than was given
    assert (r.status_code, error_of(r)["code"]) == (409, "overspend"), r.text
    r = await request("g-rice-out", 30_000, "rice")
    assert r.status_code == 201, r.text
    r = await request("g-rice-2", 30_000, "rice")  # 20,000 of rice left unheld
    assert (r.status_code, error_of(r)["would_leave_fen"]) == (409, -10_000), r.text
    url = "/api/v1/disbursements/g-rice-out"
    for party in PARTIES:
        assert (await ledger.post(f"{url}/approve", headers=keys[party])).status_code == 201
    r = await ledger.post(f"{url}/post", headers=clerk)
    assert r.status_code == 201, r.text
    figures = (await ledger.get(f"/api/v1/public/campaigns/{fund}")).json()
    assert figures["balance_fen"] == 20_000
    assert figures["assets"] == {"cash_fen": 0, "goods_fen": {"rice": 20_000}}


async def test_a_conflicting_payment_callback_is_a_dead_letter(settings, store):
    first = DonationReceivedV1(
        donation_id="cb-twice", campaign=FUND, channel="online", amount_fen=500, received_at=AT
    )
    other = first.model_copy(update={"amount_fen": 900})
    topic = settings.topic_prefix + LEDGER_DONATIONS
    await produce_event(settings.kafka_bootstrap, topic, first, key=FUND)
    await eventually(lambda: store.entry("donation:cb-twice"), timeout_s=30)
    await produce_event(settings.kafka_bootstrap, topic, other, key=FUND)

    async def dead() -> list:
        return [d for d in await dead_letters_of(settings, 1) if b"cb-twice" in d.value]

    [letter] = await eventually(dead, timeout_s=30)
    assert b"amount_fen" in dict(letter.headers)["dlq_error"]


async def test_the_server_stamps_decisions_and_a_replay_resends_the_same_receipt(
    settings, ledger, keys, store
):
    clerk = keys["clerk"]
    spend = {"disbursement_id": "t-1", "fund": FUND, "project": "warm-packs",
             "amount_fen": 100, "payee": "p", "purpose": "p"}  # fmt: skip
    assert (await ledger.post("/api/v1/disbursements", json=spend, headers=clerk)).is_success
    r = await ledger.post(
        "/api/v1/disbursements/t-1/approve",
        json={"at": "1999-01-01T00:00:00Z"},
        headers=keys[PARTIES[0]],
    )
    assert (r.status_code, error_of(r)["field"]) == (422, "body.at"), r.text
    before = datetime.now(UTC)
    r = await ledger.post("/api/v1/disbursements/t-1/approve", headers=keys[PARTIES[0]])
    assert r.status_code == 201, r.text
    [approval] = (await store.disbursement("t-1"))["approvals"]
    assert approval["at"].replace(tzinfo=UTC) >= before.replace(microsecond=0)

    gift = donation("t-gift", 400)
    gift.pop("received_at")  # stamped by the server, on the first request only
    first = await ledger.post("/api/v1/donations", json=gift, headers=clerk)
    await asyncio.sleep(0.05)
    again = await ledger.post("/api/v1/donations", json=gift, headers=clerk)
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert first.json()["receipt_no"] == again.json()["receipt_no"]

    async def receipts() -> list:
        found = await read_topic(
            settings.kafka_bootstrap, settings.topic_prefix + LEDGER_RECEIPTS, expect=100,
            timeout_s=3,
        )  # fmt: skip
        mine = [r for r in found if json.loads(r.value)["donation_id"] == "t-gift"]
        return mine if len(mine) == 2 else []

    one, two = await eventually(receipts, timeout_s=30)
    assert one.value == two.value


async def test_verify_and_export_hold_and_hledger_checks_the_export(settings, store, tmp_path):
    if shutil.which("hledger") is None:
        pytest.fail("hledger is needed: make system-deps")
    result = await verify(store)
    assert result.ok, result.breaks
    env = {
        **os.environ,
        "LINLI_MONGODB_URL": settings.mongodb_url,
        "LINLI_DB_PREFIX": settings.db_prefix,
    }
    path = tmp_path / "books.journal"
    for args in (["verify"], ["export", "--format", "hledger", "-o", str(path)]):
        cli = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.ops.cli.main", "ledger", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
    check = await asyncio.to_thread(
        subprocess.run, ["hledger", "-f", str(path), "check", "-s"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


async def test_a_command_that_fails_for_good_is_answered_and_dead_lettered(
    settings, ledger, keys, monkeypatch
):
    """A bug in one command (here a request whose handling raises) answers the waiting caller
    422 "unprocessable" at once, goes to the dead-letter topic with its error, and the fund's
    next command is answered."""
    from services.ledger.spending import Spending

    original = Spending.request

    async def buggy(self, command):
        if command.disbursement_id == "bug-1":
            raise KeyError("projects")
        return await original(self, command)

    monkeypatch.setattr(Spending, "request", buggy)
    spend = {"fund": FUND, "project": "warm-packs", "amount_fen": 10, "payee": "p",
             "purpose": "p"}  # fmt: skip
    clerk = keys["clerk"]
    r = await ledger.post(
        "/api/v1/disbursements", json={**spend, "disbursement_id": "bug-1"}, headers=clerk
    )
    assert (r.status_code, error_of(r)["code"]) == (422, "unprocessable"), r.text
    r = await ledger.post(
        "/api/v1/disbursements", json={**spend, "disbursement_id": "bug-2"}, headers=clerk
    )
    assert r.status_code == 201, r.text

    async def dead() -> list:
        return [
            d
            for d in await dead_letters_of(settings, 1)
            if b"bug-1" in d.value and b"KeyError" in dict(d.headers)["dlq_error"]
        ]

    await eventually(dead, timeout_s=30)
