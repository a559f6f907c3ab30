"""Ledger benchmark against the real Kafka and FerretDB, each figure beside a baseline from the
same run, as a ratio:

1. Sustained postings per second through the real path: donation events produced to
   ``ledger.donations`` (four funds, keyed by fund), consumed by the ledger service running as
   its own process, as deployed (``python -m services.ledger``; balance check,
   hash chain, fund state, receipt published, answer recorded), pre-produced, measured from
   the moment the ledger's consumer group has formed to the last answer; baseline: raw
   ``insert_many`` of the same entries as one document each (the naive journal), in batches of
   the consumer's size. Floor: 3,000/s and 30% of the baseline, printed, not asserted (both
   depend on how busy the shared machine is; see docs/ledger.md). Also printed: the CPU the
   ledger, FerretDB and Kafka processes spend per posting.
2. Verifying a real chain of 1,000,000 entries stored in the database (posted through
   ``Books.post`` in group commits, as fast as it goes): the full ``verify`` (every hash and
   link) beside a raw read of the same blocks. Floor: 15 s, asserted.
"""

import asyncio
import time
import uuid
from datetime import UTC, datetime
from functools import partial

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from services.ledger.books import Books, Posted
from services.ledger.chain import verify
from services.ledger.domain.funds import FundState, apply_entry
from services.ledger.domain.journal import seal
from services.ledger.domain.postings import donation_draft
from services.ledger.donations import draft_of
from services.ledger.store import LedgerStore, entry_doc
from shared.events import DonationReceivedV1, Envelope
from shared.kafka.admin import apply_topics
from shared.kafka.consumer import consumer_group
from shared.settings import Settings
from shared.topics import LEDGER_COMMANDS, LEDGER_DONATIONS, LEDGER_RECEIPTS, Topic
from tests.bench.processes import (
    cpu_seconds,
    free_port,
    server_pids,
    service_process,
    settings_env,
)
from tests.helpers import eventually

pytestmark = pytest.mark.bench

FUNDS = [f"bench-{i}" for i in range(4)]
N_KAFKA = 30_000
BATCH = 500  # the consumer's batch size (ledger_batch_size)
N_VERIFY = 1_000_000
BULK = 2_500  # drafts per group commit when storing the million
AT = datetime(2026, 11, 28, tzinfo=UTC)
POSTINGS_FLOOR, RATIO_FLOOR, VERIFY_FLOOR_S = 3_000, 0.30, 15.0


def line(label: str, n: int, seconds: float) -> float:
    rate = n / seconds
    print(f"  {label:<58} {n:>9,} in {seconds:6.2f} s = {rate:>9,.0f}/s")
    return rate


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def donations(run: str, n: int) -> list[DonationReceivedV1]:
    return [
        DonationReceivedV1(
            donation_id=f"{run}-{i}",
            campaign=FUNDS[i % len(FUNDS)],
            channel="online",
            amount_fen=100 + i % 997,
            received_at=AT,
            payment_ref=f"pay-{run}-{i}",
        )
        for i in range(n)
    ]


def entry_docs(events: list[DonationReceivedV1]) -> list[dict]:
    """The entries the ledger posts for these donations, one document each (the baseline)."""
    states = {f: FundState(f) for f in FUNDS}
    docs = []
    for event in events:
        draft = draft_of(event)
        entry = seal(draft, states[draft.fund].seq + 1, states[draft.fund].head)
        states[draft.fund] = apply_entry(states[draft.fund], entry)
        docs.append(entry_doc(entry))
    return docs


async def produce(bootstrap: str, topic: str, events: list[DonationReceivedV1]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        for event in events:
            envelope = Envelope(
                type=event.event_type,
                source="/bench",
                subject=event.donation_id,
                id=event.donation_id,
            )
            headers = envelope.record_headers()
            await producer.send(
                topic,
                event.model_dump_json().encode(),
                key=event.campaign.encode(),
                headers=headers,
            )
        await producer.flush()
    finally:
        await producer.stop()


async def group_is_stable(bootstrap: str, group: str, members: int) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
        _, _, state, _, _, joined, *_ = response.groups[0]
        return state == "Stable" and len(joined) == members
    finally:
        await admin.close()


async def postings_through_kafka(settings: Settings, client: AsyncMongoClient) -> None:
    run = uuid.uuid4().hex[:6]
    events = donations(run, N_KAFKA)
    raw = client[f"{settings.db_prefix}raw"]["journal"]
    docs = entry_docs(events)
    started = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        await raw.insert_many(docs[i : i + BATCH], ordered=True)
    baseline = line("baseline: raw insert_many, one document per entry", N_KAFKA,
                    time.perf_counter() - started)  # fmt: skip

    topic = settings.topic_prefix + LEDGER_DONATIONS
    await apply_topics(
        settings.kafka_bootstrap,
        [Topic(LEDGER_DONATIONS, "campaign", ""), Topic(LEDGER_RECEIPTS, "donation id", "")],
        prefix=settings.topic_prefix, default_partitions=settings.topic_partitions, replication=1,
    )  # fmt: skip
    started = time.perf_counter()
    await produce(settings.kafka_bootstrap, topic, events)
    line("(produced to ledger.donations beforehand)", N_KAFKA, time.perf_counter() - started)
    store = LedgerStore(client[settings.database_name("ledger")])
    for fund in FUNDS:  # donations to campaigns nobody opened are refused
        await store.create_fund({"_id": fund, "name": fund})

    last_of_fund = [e.donation_id for e in events[-len(FUNDS) :]]

    async def posted() -> int:
        """Postings in the chains; all of them once the last command of each fund is answered
        (answers are recorded after the posting; a batch is answered in one write)."""
        chained = sum(doc.get("seq", 0) for doc in await store.all_funds())
        if chained == len(events):
            for command_id in last_of_fund:
                if await store.outcome(command_id) is None:
                    return chained - 1
        return chained

    total = N_KAFKA
    port = free_port()
    pids = server_pids()
    with service_process(
        ["services.ledger"], settings_env(settings, LINLI_LEDGER_PORT=str(port)), port
    ) as pid:
        # measured once the ledger's consumers have joined their groups (start-up, not
        # throughput)
        for source in (LEDGER_DONATIONS, LEDGER_COMMANDS):
            group = consumer_group(settings.topic_prefix, "ledger", source)
            stable = partial(group_is_stable, settings.kafka_bootstrap, group, 1)
            await eventually(stable, timeout_s=60, interval_s=0.1)
        pids["ledger"] = pid
        cpu = {name: cpu_seconds(p) for name, p in pids.items()}
        first, began = await posted(), time.perf_counter()
        while time.perf_counter() - began < 120:
            if (done := await posted()) >= total:
                break
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - began
        used = {name: cpu_seconds(p) - cpu[name] for name, p in pids.items()}
    assert done == total, f"only {done} of {total} posted and answered"
    print(f"  (measured from the consumer groups' forming, {first:,} posted by then)")
    rate = line("ledger via Kafka: consumed, checked, chained, receipted", done - first, seconds)
    per_posting = ", ".join(f"{n} {s * 1e6 / (done - first):.0f} us" for n, s in used.items())
    print(f"  (CPU per posting: {per_posting})")
    ratio = rate / baseline
    floor = rate >= POSTINGS_FLOOR and ratio >= RATIO_FLOOR
    print(f"  ratio ledger/baseline = {ratio:.2f}; floor {POSTINGS_FLOOR:,}/s and "
          f"{RATIO_FLOOR:.2f}: {verdict(floor)}")  # fmt: skip
    result = await verify(store)
    assert result.ok and result.entries == total


async def verification_of_a_million(settings: Settings, client: AsyncMongoClient) -> None:
    store = LedgerStore(client[f"{settings.db_prefix}million"])
    await store.prepare()
    for fund in FUNDS:
        await store.create_fund({"_id": fund, "name": fund})
    books = Books(store)
    per_fund = N_VERIFY // len(FUNDS)

    async def fill(fund: str) -> None:
        for start in range(0, per_fund, BULK):
            drafts = [
                donation_draft(
                    donation_id=f"m-{fund}-{i}",
                    fund=fund,
                    channel="online",
                    amount_fen=100 + i % 997,
                    currency="CNY",
                    at=AT,
                    meta={"payment_ref": f"p{i}"},
                )
                for i in range(start, min(per_fund, start + BULK))
            ]
            results = await books.post(fund, drafts)
            assert all(isinstance(r, Posted) and r.status == "posted" for r in results)

    started = time.perf_counter()
    await asyncio.gather(*(fill(f) for f in FUNDS))
    line("stored through Books.post (group commits of 2,500)", N_VERIFY,
         time.perf_counter() - started)  # fmt: skip

    started = time.perf_counter()
    read = 0
    async for block in store.stream_blocks():
        read += len(block.lines or ())
    baseline_s = time.perf_counter() - started
    line("baseline: raw read of the same blocks (no checks)", read, baseline_s)

    started = time.perf_counter()
    result = await verify(store)
    seconds = time.perf_counter() - started
    assert result.ok and result.entries == N_VERIFY, result.first
    line("verify: every entry's hash and link, tails, balances", result.entries, seconds)
    ok = seconds <= VERIFY_FLOOR_S
    print(f"  ratio verify/raw read = {seconds / baseline_s:.2f}; verify 1,000,000 entries in "
          f"{seconds:.1f} s, floor {VERIFY_FLOOR_S:.0f} s: {verdict(ok)}")  # fmt: skip
    assert ok, "verification of 1,000,000 entries slower than the floor"


async def test_postings_per_second_and_verifying_a_million(servers):
    run = uuid.uuid4().hex[:6]
    settings = Settings(
        env="test",
        kafka_bootstrap=servers.kafka_bootstrap,
        mongodb_url=servers.mongodb_url,
        topic_prefix=f"lb{run}.",
        db_prefix=f"lb{run}_",
        topic_partitions=4,
        ledger_batch_size=BATCH,
        log_level="WARNING",
    )
    client = AsyncMongoClient(servers.mongodb_url, tz_aware=True)
    print(f"\nledger benchmark (Kafka {servers.kafka_bootstrap}, FerretDB {servers.mongodb_url})")
    try:
        await postings_through_kafka(settings, client)
        await verification_of_a_million(settings, client)
    finally:
        for name in await client.list_database_names():
            if name.startswith(settings.db_prefix):
                await client.drop_database(name)
        await client.close()
