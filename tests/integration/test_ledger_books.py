"""The ledger in-process against real Kafka and FerretDB: a campaign takes online (payment
callback), offline and in-kind donations; three parties approve a disbursement and it is
posted; an overspend and a double spend are refused; replays answer "exists" or name the
differing field; the public account adds up; hledger accepts the export with the same
balances; a tampered entry is caught by `linli ledger verify`."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from bson import Binary

from services.ledger.books import Books, Posted, replica_writer
from services.ledger.chain import export_hledger, verify
from services.ledger.domain.idempotency import ConflictingReplay
from services.ledger.domain.journal import digest, seal
from services.ledger.domain.postings import donation_draft
from services.ledger.store import CLAIM_TIMEOUT, PACKED, block_id, pack, unpack
from shared.events import DonationReceivedV1
from shared.settings import Settings
from shared.topics import LEDGER_DONATIONS, LEDGER_RECEIPTS, RESIDENTS_CONTACTS
from tests.helpers import eventually, produce_event, read_topic
from tests.integration import ledger_fixtures
from tests.integration.ledger_fixtures import PARTIES, clerk_and_approvers
from tests.servers import isolated_settings

pytestmark = pytest.mark.integration
store, ledger = ledger_fixtures.store, ledger_fixtures.ledger  # the shared fixtures


def run(*args, **kwargs):
    return asyncio.to_thread(subprocess.run, *args, **kwargs)


CAMPAIGN = "winter-warmth"


@pytest.fixture(scope="module")
def settings(servers) -> Settings:
    return isolated_settings(servers)


@pytest.fixture(scope="module")
async def keys(store, ledger):
    return await clerk_and_approvers(store, [CAMPAIGN])


async def test_a_campaign_from_donations_to_an_approved_disbursement(settings, ledger, keys):
    clerk = keys["clerk"]
    campaign = {
        "id": CAMPAIGN,
        "name": "儿童冬季温暖包 winter warmth",
        "goal_fen": 19_000_000,
        "starts": "2026-10-01",
        "ends": "2027-03-31",
        "projects": ["warm-packs", "delivery"],
    }
    assert (await ledger.post("/api/v1/campaigns", json=campaign)).status_code == 401
    r = await ledger.post("/api/v1/campaigns", json=campaign, headers=clerk)
    assert r.status_code == 201, r.text
    assert (await ledger.post("/api/v1/campaigns", json=campaign, headers=clerk)).status_code == 200
    r = await ledger.post("/api/v1/campaigns", json={**campaign, "goal_fen": 1}, headers=clerk)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "body.goal_fen"

    # online: the payment provider's callback arrives on ledger.donations
    online = DonationReceivedV1(
        donation_id="pay-0001",
        campaign=CAMPAIGN,
        channel="online",
        amount_fen=500_000,
        received_at=datetime(2026, 11, 2, tzinfo=UTC),
        payment_ref="wx-778899",
    )
    donations = settings.topic_prefix + LEDGER_DONATIONS
    await produce_event(
        settings.kafka_bootstrap, donations, online, key=CAMPAIGN, source="/test/pay"
    )
    # a callback for a campaign id that cannot name an account is a dead letter, not a loop
    bad = online.model_copy(update={"donation_id": "pay-bad", "campaign": "Winter Warmth!"})
    await produce_event(settings.kafka_bootstrap, donations, bad, key="x", source="/test/pay")
    # offline at the front desk, a named donor with a contact for the thank-you
    offline = {
        "donation_id": "desk-0001",
        "campaign": CAMPAIGN,
        "channel": "offline",
        "amount_fen": 200_000,
        "receipt_book_no": "JZ-2026-017/34",
        "received_at": "2026-11-03T10:00:00+08:00",
        "donor": {"name": "嘉州爱心车队", "phone": "13800001111", "named": True},
    }
    r = await ledger.post("/api/v1/donations", json=offline, headers=clerk)
    assert r.status_code == 201, r.text
    assert r.json()["receipt_no"].startswith("R2026-winter-warmth-")
    # in-kind goods, valued at the invoice; an anonymous donor
    inkind = {
        "donation_id": "desk-0002",
        "campaign": CAMPAIGN,
        "channel": "in-kind",
        "amount_fen": 380_000,
        "item": "warm-packs",
        "quantity": 100,
        "valuation_method": "invoice",
        "received_at": "2026-11-04T09:00:00+08:00",
        "donor": {"name": "王阿姨", "phone": "13800002222"},
    }
    assert (await ledger.post("/api/v1/donations", json=inkind, headers=clerk)).status_code == 201
    # replays: identical -> exists; different -> refused naming the field
    r = await ledger.post("/api/v1/donations", json=offline, headers=clerk)
    assert (r.status_code, r.json()["status"]) == (200, "exists")
    r = await ledger.post("/api/v1/donations", json={**offline, "amount_fen": 1}, headers=clerk)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "body.amount_fen"
    bad = {**offline, "donation_id": "desk-0003", "receipt_book_no": None}
    assert (await ledger.post("/api/v1/donations", json=bad, headers=clerk)).status_code == 422

    [dead] = await read_topic(settings.kafka_bootstrap, settings.topic_prefix + "dlq.ledger")
    assert b"pay-bad" in dead.value
    receipts = await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + LEDGER_RECEIPTS, expect=3
    )
    assert {json.loads(r.value)["donation_id"] for r in receipts} >= {"pay-0001", "desk-0001"}
    # the donor is thanked for the campaign by its name
    assert {json.loads(r.value)["campaign_name"] for r in receipts} == {campaign["name"]}
    raw = b"".join(r.value for r in receipts)
    assert b"13800001111" not in raw and "王阿姨".encode() not in raw
    [contact, *_] = await read_topic(
        settings.kafka_bootstrap, settings.topic_prefix + RESIDENTS_CONTACTS, expect=2
    )
    assert json.loads(contact.value)["resident_ref"] in {
        json.loads(r.value)["donor_ref"] for r in receipts
    }

    async def raised():
        figures = (await ledger.get(f"/api/v1/public/campaigns/{CAMPAIGN}")).json()
        return figures if figures["raised"]["total"] == 1_080_000 else None

    figures = await eventually(raised)
    assert figures["raised"] == {
        "online": 500_000,
        "offline": 200_000,
        "in-kind": 380_000,
        "total": 1_080_000,
    }

    # spending: requested (held), approved by the three parties, posted
    request = {
        "disbursement_id": "pay-packs-01",
        "fund": CAMPAIGN,
        "project": "warm-packs",
        "amount_fen": 600_000,
        "payee": "乐山市某服装厂",
        "purpose": "300 warm packs",
    }
    r = await ledger.post("/api/v1/disbursements", json=request, headers=clerk)
    assert (r.status_code, r.json()["disbursement"]["status"]) == (201, "requested"), r.text
    r = await ledger.post("/api/v1/disbursements", json={**request, "amount_fen": 1}, headers=clerk)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "body.amount_fen"
    url = "/api/v1/disbursements/pay-packs-01"
    assert (
        await ledger.post(f"{url}/post", headers=clerk)
    ).status_code == 409  # not approved: its state forbids it
    assert (await ledger.post(f"{url}/approve", headers=clerk)).status_code == 403
    for i, party in enumerate(PARTIES):
        r = await ledger.post(f"{url}/approve", headers=keys[party])
        assert r.status_code == 201, r.text
        assert r.json()["disbursement"]["status"] == ("approved" if i == 2 else "requested")
    r = await ledger.post(f"{url}/approve", headers=keys[PARTIES[0]])
    assert r.json()["status"] == "exists"
    figures = (await ledger.get(f"/api/v1/public/campaigns/{CAMPAIGN}")).json()
    assert (figures["held_fen"], figures["available_fen"]) == (600_000, 480_000)

    # an overspend is refused with the balance it would leave; so is spending held money
    over = {**request, "disbursement_id": "too-much", "amount_fen": 500_000}
    r = await ledger.post("/api/v1/disbursements", json=over, headers=clerk)
    assert r.status_code == 409
    error = r.json()["errors"][0]
    assert (error["code"], error["would_leave_fen"]) == ("overspend", -20_000)

    r = await ledger.post(f"{url}/post", json={"payment_ref": "bank-0042"}, headers=clerk)
    assert (r.status_code, r.json()["disbursement"]["status"]) == (201, "posted"), r.text
    assert (await ledger.post(f"{url}/post", headers=clerk)).json()["status"] == "exists"

    # the cash left is 100,000 (the rest is goods): cash is not paid out of the warm packs
    cash = {**request, "disbursement_id": "cash-too-much", "amount_fen": 300_000}
    r = await ledger.post("/api/v1/disbursements", json=cash, headers=clerk)
    assert r.status_code == 409 and r.json()["errors"][0]["would_leave_fen"] == -200_000
    # two requests race for the same goods: exactly one holds them
    a, b = (
        {**request, "disbursement_id": f"race-{x}", "project": "delivery", "amount_fen": 300_000,
         "source": "warm-packs"}
        for x in "ab"
    )  # fmt: skip
    answers = await asyncio.gather(
        ledger.post("/api/v1/disbursements", json=a, headers=clerk),
        ledger.post("/api/v1/disbursements", json=b, headers=clerk),
    )
    assert sorted(r.status_code for r in answers) == [201, 409]
    loser = next(r for r in answers if r.status_code == 409)
    assert loser.json()["errors"][0]["would_leave_fen"] == -120_000
    winner = next(r for r in answers if r.status_code == 201).json()["disbursement"]["id"]
    r = await ledger.post(
        f"/api/v1/disbursements/{winner}/reject",
        headers=keys[PARTIES[1]],
        json={"reason": "delivery is volunteered"},
    )
    assert r.json()["disbursement"]["status"] == "rejected"
    void = {**request, "disbursement_id": "void-me", "amount_fen": 10_000}
    assert (await ledger.post("/api/v1/disbursements", json=void, headers=clerk)).is_success
    r = await ledger.post("/api/v1/disbursements/void-me/void", headers=clerk)
    assert r.json()["disbursement"]["status"] == "voided"
    r = await ledger.post("/api/v1/disbursements/void-me/approve", headers=keys[PARTIES[2]])
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "wrong_status"

    # a mistake corrected by a reversal pointing to the original
    reversal = {
        "reversal_id": "fix-1",
        "fund": CAMPAIGN,
        "original_entry_id": "donation:desk-0002",
        "reason": "goods valued twice",
    }
    r = await ledger.post("/api/v1/reversals", json=reversal, headers=clerk)
    assert r.status_code == 201, r.text
    again = {**reversal, "reversal_id": "fix-2"}
    assert (await ledger.post("/api/v1/reversals", json=again, headers=clerk)).status_code == 409

    # the public account adds up, with no donor data but chosen names
    figures = (await ledger.get(f"/api/v1/public/campaigns/{CAMPAIGN}")).json()
    assert figures["raised"]["total"] == 700_000 and figures["spent_fen"] == 600_000
    assert figures["raised"]["total"] - figures["spent_fen"] == figures["balance_fen"] == 100_000
    assert figures["balance_fen"] == figures["held_fen"] + figures["available_fen"]
    assert figures["held_fen"] == 0
    q = figures["quarters"]["2026Q4"]
    assert (q["raised"]["total"], q["spent"]) == (700_000, 600_000)
    csv = (await ledger.get("/api/v1/public/disclosures/2026Q4.csv")).text
    page = (await ledger.get("/api/v1/public/disclosures/2026Q4")).text
    for text in (csv, page):
        assert "嘉州爱心车队" in text and "匿名" in text
        assert "王阿姨" not in text and "13800001111" not in text and "wx-778899" not in text
    assert f"summary,2026Q4,{CAMPAIGN},5000.00,2000.00,0.00,7000.00,6000.00,1000.00" in csv
    public = (await ledger.get("/api/v1/public/campaigns")).text
    assert "王阿姨" not in public and "res_" not in public


async def test_a_batch_of_donations_answers_each_once_and_posts_nothing_twice(
    settings, ledger, store
):
    """Donations on ledger.donations are posted per fetched batch; a redelivered command keeps
    its first answer, a replay by another command answers "exists", a changed replay names the
    field, and each donation is in the chain once."""
    fund = "batch-test"
    await store.create_fund({"_id": fund, "name": fund, "projects": ["p"]})

    def gift(donation_id: str, amount_fen: int) -> DonationReceivedV1:
        return DonationReceivedV1(
            donation_id=donation_id,
            campaign=fund,
            channel="online",
            amount_fen=amount_fen,
            received_at=datetime(2026, 11, 6, tzinfo=UTC),
        )

    sent = [
        ("cmd-a", gift("b-1", 100)),
        ("cmd-b", gift("b-2", 200)),
        ("cmd-a", gift("b-1", 100)),  # the same record delivered again
        ("cmd-c", gift("b-1", 999)),  # the same donation id with another amount
        ("cmd-d", gift("b-2", 200)),  # a replay under another command id
    ]
    for command_id, event in sent:
        await produce_event(
            settings.kafka_bootstrap,
            settings.topic_prefix + LEDGER_DONATIONS,
            event,
            key=fund,
            source="/test/pay",
            event_id=command_id,
        )
    answers = {}
    for command_id in ("cmd-a", "cmd-b", "cmd-c", "cmd-d"):
        answers[command_id] = await eventually(lambda c=command_id: store.outcome(c), timeout_s=30)
    assert answers["cmd-a"]["status"] == "posted" and answers["cmd-b"]["status"] == "posted"
    assert answers["cmd-c"]["status"] == "refused"
    assert answers["cmd-c"]["field"] == "body.amount_fen"
    assert answers["cmd-d"]["status"] == "exists"
    assert answers["cmd-d"]["seq"] == answers["cmd-b"]["seq"]
    assert answers["cmd-d"]["receipt_no"] == answers["cmd-b"]["receipt_no"]
    doc = await store.fund_doc(fund)
    assert doc["seq"] == 2 and doc["balance_fen"] == 300
    entry = await store.entry("donation:b-1")
    assert entry["seq"] == answers["cmd-a"]["seq"] and entry["fund"] == fund


async def test_hledger_accepts_the_export_with_the_same_balances(store, tmp_path):
    if shutil.which("hledger") is None:
        pytest.fail("hledger is needed: apt-get update && apt-get install -y hledger")
    path = tmp_path / "ledger.journal"
    with path.open("w", encoding="utf-8") as f:
        ours = await export_hledger(store, f.write)
    check = await run(["hledger", "-f", str(path), "check", "-s"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    bal = await run(
        ["hledger", "-f", str(path), "bal", "--flat", "--no-total", "-O", "csv"],
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = {}
    for line in bal.stdout.splitlines()[1:]:
        account, amount = (cell.strip('"') for cell in line.split('","'))
        theirs[account] = round(float(amount.replace("CNY", "").strip() or 0) * 100)
    assert {a: f for a, f in ours.items() if f} == {a: f for a, f in theirs.items() if f}
    assert ours["funds:restricted:winter-warmth"] == -100_000


async def test_two_writers_on_one_fund_keep_one_chain_and_the_balance(store):
    """The Kafka key normally gives a fund one writer; when two meet (a rebalance), the unique
    (fund, seq) link and the version filter keep the chain whole and the balance exact. A
    writer that died after appending but before advancing the fund is rolled forward."""
    fund = "rebalance-test"
    await store.create_fund({"_id": fund, "name": fund, "projects": ["p"]})
    at = datetime(2026, 11, 5, tzinfo=UTC)

    def gift(i: int):
        return donation_draft(
            donation_id=f"rb-{i}",
            fund=fund,
            channel="online",
            amount_fen=100 + i,
            currency="CNY",
            at=at,
        )

    half_dead = Books(store)
    state, _ = await half_dead.state(fund)
    orphan = seal(gift(999), state.seq + 1, state.head)
    assert await store.append_block(fund, [orphan])  # the fund document was never advanced

    one, two = Books(store), Books(store)

    async def writer(books, ids):
        for i in ids:
            [result] = await books.post(fund, [gift(i)])
            assert isinstance(result, Posted), result

    await asyncio.gather(writer(one, range(0, 40, 2)), writer(two, range(1, 40, 2)))
    state, _ = await one.state(fund)
    assert state.seq == 41
    assert state.balance_fen == sum(100 + i for i in range(40)) + 1099
    [again] = await two.post(fund, [gift(7)])
    assert again.status == "exists"
    assert (await verify(store)).ok


async def test_a_restarted_replica_posts_what_it_had_claimed_when_killed_at_once(
    settings, ledger, store
):
    """A replica killed between claiming a donation's id and appending its block left the
    claim; restarted (the same replica: its instance id), it posts the donation at once,
    instead of answering ``Busy`` until the claim expires (15 s: every donation of the fund
    behind it waited, and the restart drill measured ledger serving after up to 9 s)."""
    fund = "restart-claims"
    clerk = (await clerk_and_approvers(store, [fund]))["clerk"]
    campaign = {"id": fund, "name": fund, "goal_fen": 0, "starts": "2026-01-01",
                "ends": "2027-12-31", "projects": ["p"]}  # fmt: skip
    assert (await ledger.post("/api/v1/campaigns", json=campaign, headers=clerk)).is_success
    state, _ = await Books(store).state(fund)
    writer = replica_writer(settings.group_instance_id("ledger"))  # the killed one's
    assert await store.claim(block_id(fund, state.seq + 1), writer, ["donation:rc-1"]) == []
    began = time.monotonic()
    gift = {"donation_id": "rc-1", "campaign": fund, "channel": "offline", "amount_fen": 100,
            "receipt_book_no": "rc"}  # fmt: skip
    r = await ledger.post("/api/v1/donations", json=gift, headers=clerk)
    took = time.monotonic() - began
    assert r.status_code == 201, r.text
    assert took < CLAIM_TIMEOUT.total_seconds() / 3, f"posted after {took:.1f} s"


async def rewrite_entry(store, entry_id: str, change) -> dict:
    """Edit an entry in place in the database, as an intruder would: ``change`` maps the
    stored ``(hash, body)`` to new ones; the entry as it was is returned."""
    doc = await store.entry(entry_id)
    raw = await store.blocks.find_one({"_id": doc["block"]})
    lines = unpack(raw[PACKED])
    position = doc["seq"] - raw["first"]
    lines[position] = change(*lines[position])
    await store.blocks.update_one({"_id": raw["_id"]}, {"$set": {PACKED: Binary(pack(lines))}})
    return doc


async def test_a_tampered_entry_is_caught(settings, store):
    assert (await verify(store)).ok
    doc = await rewrite_entry(
        store, "donation:desk-0001", lambda h, body: (h, body.replace("200000", "20000"))
    )
    forged = doc["body"].replace("200000", "20000")
    assert forged != doc["body"]
    result = await verify(store)
    assert result.first.entry_id == "donation:desk-0001" and result.first.seq == doc["seq"]
    assert "content" in result.first.reason

    env = {
        **os.environ,
        "LINLI_MONGODB_URL": settings.mongodb_url,
        "LINLI_DB_PREFIX": settings.db_prefix,
    }
    cli = await run(
        [sys.executable, "-m", "services.ops.cli.main", "ledger", "verify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert cli.returncode == 1
    assert f"entry {doc['seq']} (donation:desk-0001)" in cli.stderr.replace("\n", " ")

    # re-sealing the forged entry's hash moves the break to the next link
    await rewrite_entry(store, "donation:desk-0001", lambda h, body: (digest(body), body))
    result = await verify(store)
    assert result.first.seq == doc["seq"] + 1 and "link" in result.first.reason


async def test_an_id_twice_in_one_group_commit_is_posted_once(store):
    """A batch may hold the same donation twice (a redelivery, a replay, a changed replay):
    the first is posted, a same-content repeat answers "exists" with its place, a changed
    one names the field; split over two calls, the answers are the same."""
    at = datetime(2026, 11, 7, tzinfo=UTC)

    def gift(fund: str, donation_id: str, amount_fen: int):
        return donation_draft(
            donation_id=donation_id,
            fund=fund,
            channel="online",
            amount_fen=amount_fen,
            currency="CNY",
            at=at,
        )

    for split in (None, 1, 2):
        fund = f"repeat-test-{split or 0}"
        await store.create_fund({"_id": fund, "name": fund, "projects": ["p"]})
        one, two = f"r{split or 0}-1", f"r{split or 0}-2"
        drafts = [gift(fund, one, 100), gift(fund, two, 200), gift(fund, one, 100),
                  gift(fund, one, 999), gift(fund, two, 200)]  # fmt: skip
        books = Books(store)
        if split is None:
            results = await books.post(fund, drafts)
        else:
            results = [
                *await books.post(fund, drafts[:split]),
                *await books.post(fund, drafts[split:]),
            ]
        first, second, again, changed, replay = results
        assert first.status == "posted" and second.status == "posted", results
        assert again.status == "exists" and again.seq == first.seq, results
        assert isinstance(changed, ConflictingReplay) and one in str(changed), results
        assert replay.status == "exists" and replay.seq == second.seq, results
        state, _ = await books.state(fund)
        assert state.seq == 2 and state.balance_fen == 300
