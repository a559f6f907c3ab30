"""Ledger benchmark against the real FerretDB: postings per second with the balance check and
the hash chain, beside raw inserts of the same entry documents (the baseline, same run, same
indexes); and the time to verify a chain of 1,000,000 entries.

Printed figures:
- batched postings (group commit, as the fund's writer posts a batch): ledger vs raw
  ``insert_many`` of the same documents; floor 3,000/s and >= 30% of the baseline;
- single postings (one command at a time): ledger vs raw ``insert_one``, for information;
- chain verification: through the database (rate measured on the posted entries, and what it
  gives for 1,000,000), and the hashing/linking work alone on 1,000,000 entries streamed from
  memory (target <= 15 s).
"""

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from services.ledger.books import Books, Posted
from services.ledger.chain import verify
from services.ledger.domain.funds import FundState, apply_entry
from services.ledger.domain.journal import GENESIS, seal
from services.ledger.domain.postings import donation_draft
from services.ledger.store import LedgerStore, entry_doc

pytestmark = pytest.mark.bench

FUNDS = [f"bench-{i}" for i in range(4)]
BATCH = 500
N_BATCHED = 20_000
N_SINGLE = 400
N_VERIFY = 1_000_000
AT = datetime(2026, 11, 28, tzinfo=UTC)


def drafts(prefix: str, n: int, fund: str):
    return [
        donation_draft(
            donation_id=f"{prefix}-{fund}-{i}",
            fund=fund,
            channel="online",
            amount_fen=100 + i % 997,
            currency="CNY",
            at=AT,
            meta={"payment_ref": f"p{i}"},
        )
        for i in range(n)
    ]


def sealed_docs(all_drafts):
    """The documents the ledger writes for these drafts (for the raw-insert baseline)."""
    states = {f: FundState(f) for f in FUNDS}
    docs = []
    for d in all_drafts:
        entry = seal(d, states[d.fund].seq + 1, states[d.fund].head)
        states[d.fund] = apply_entry(states[d.fund], entry)
        docs.append(entry_doc(entry))
    return docs


async def fresh_store(client: AsyncMongoClient, name: str) -> LedgerStore:
    store = LedgerStore(client[f"bench_{uuid.uuid4().hex[:6]}_{name}"])
    await store.prepare()
    for fund in FUNDS:
        await store.create_fund({"_id": fund, "name": fund})
    return store


def line(label: str, n: int, seconds: float) -> float:
    rate = n / seconds
    print(f"  {label:<54} {n:>9,} in {seconds:6.2f} s = {rate:>9,.0f}/s")
    return rate


async def test_postings_per_second_and_chain_verification(servers):
    client = AsyncMongoClient(servers.mongodb_url, tz_aware=True)
    print("\nledger benchmark (FerretDB at", servers.mongodb_url + ")")
    try:
        per_fund = N_BATCHED // len(FUNDS)
        batched = {f: drafts("b", per_fund, f) for f in FUNDS}

        base = await fresh_store(client, "raw")
        docs = sealed_docs([d for f in FUNDS for d in batched[f]])
        t = time.perf_counter()
        for i in range(0, len(docs), BATCH):
            await base.journal.insert_many(docs[i : i + BATCH], ordered=True)
        raw_rate = line(
            "baseline: raw insert_many of the entry documents", len(docs), time.perf_counter() - t
        )

        store = await fresh_store(client, "books")
        books = Books(store)
        t = time.perf_counter()
        for i in range(0, per_fund, BATCH):
            for f in FUNDS:
                results = await books.post(f, batched[f][i : i + BATCH])
                assert all(isinstance(r, Posted) and r.status == "posted" for r in results)
        rate = line(
            "ledger: batched postings (checks, chain, fund state)",
            N_BATCHED,
            time.perf_counter() - t,
        )
        print(f"  ratio batched/baseline = {rate / raw_rate:.2f} (floor 3,000/s and 0.30)")

        singles = [d for f in FUNDS for d in drafts("s", N_SINGLE // len(FUNDS), f)]
        single_docs = sealed_docs(singles)
        one_base = await fresh_store(client, "raw1")
        t = time.perf_counter()
        for doc in single_docs:
            await one_base.journal.insert_one(doc)
        one_raw = line(
            "baseline: raw insert_one of the entry documents", N_SINGLE, time.perf_counter() - t
        )
        t = time.perf_counter()
        for d in singles:
            [r] = await books.post(d.fund, [d])
            assert isinstance(r, Posted)
        one = line(
            "ledger: one posting per call (as one command)", N_SINGLE, time.perf_counter() - t
        )
        print(f"  ratio single/baseline = {one / one_raw:.2f}")

        t = time.perf_counter()
        result = await verify(store, batch_size=10_000)
        seconds = time.perf_counter() - t
        assert result.ok and result.entries == N_BATCHED + N_SINGLE
        db_rate = line("verify through FerretDB (stream, projection)", result.entries, seconds)
        print(f"  => 1,000,000 entries through FerretDB would take ~{N_VERIFY / db_rate:.0f} s")

        memory = InMemoryJournal(N_VERIFY)
        t = time.perf_counter()
        result = await verify(memory, batch_size=10_000)
        seconds = time.perf_counter() - t
        assert result.ok and result.entries == N_VERIFY
        line("verify 1,000,000 entries, hashing+links only (memory)", N_VERIFY, seconds)
        print(f"  target <= 15 s: {'met' if seconds <= 15 else 'NOT met'} for the CPU part")
        floor = rate >= 3_000 and rate >= 0.30 * raw_rate
        print(f"  floor 3,000/s and 30% of baseline: {'met' if floor else 'NOT met'}")
    finally:
        await client.drop_database(store.db.name) if "store" in locals() else None
        await client.drop_database(base.db.name) if "base" in locals() else None
        await client.drop_database(one_base.db.name) if "one_base" in locals() else None
        await client.close()


class InMemoryJournal:
    """The verifier's two reads served from memory: sealed entries of one fund, built quickly
    by sealing one draft shape with changing ids (the hashing and linking are the real ones)."""

    def __init__(self, n: int):
        self.n = n
        self.docs = []
        draft = drafts("m", 1, "mem")[0]
        seq, head, balance = 0, GENESIS, 0
        for i in range(n):
            d = replace(draft, entry_id=f"m{i}")
            entry = seal(d, seq + 1, head)
            seq, head, balance = entry.seq, entry.hash, balance + d.legs[0].amount_fen
            self.docs.append(
                {"_id": d.entry_id, "fund": "mem", "seq": seq, "body": entry.body, "hash": head}
            )
        self.fund = {"_id": "mem", "seq": seq, "head": head, "balance_fen": balance}

    async def stream(self, batch_size: int = 0):
        for doc in self.docs:
            yield doc

    async def all_funds(self):
        return [self.fund]
