"""Chain verification over an in-memory journal: order-independent streaming, and every kind
of tampering (changed content, re-sealed hash, deleted entry, removed tail, moved entry)."""

import random
from datetime import UTC, datetime

import pytest

from services.ledger.chain import verify
from services.ledger.domain.journal import GENESIS, digest, seal
from services.ledger.domain.postings import donation_draft

pytestmark = pytest.mark.unit


class Journal:
    def __init__(self, n: int = 6):
        self.docs, head, balance = [], GENESIS, 0
        for i in range(n):
            draft = donation_draft(
                donation_id=f"g{i}",
                fund="w",
                channel="offline",
                amount_fen=1000 + i,
                currency="CNY",
                at=datetime(2026, 11, 1, tzinfo=UTC),
            )
            entry = seal(draft, i + 1, head)
            head, balance = entry.hash, balance + 1000 + i
            self.docs.append(
                {
                    "_id": draft.entry_id,
                    "fund": "w",
                    "seq": i + 1,
                    "body": entry.body,
                    "hash": entry.hash,
                }
            )
        self.fund = {"_id": "w", "seq": n, "head": head, "balance_fen": balance}

    async def stream(self, batch_size=0):
        for doc in self.docs:
            yield doc

    async def all_funds(self):
        return [self.fund]


async def test_an_intact_chain_verifies_in_any_storage_order():
    journal = Journal()
    random.Random(7).shuffle(journal.docs)
    result = await verify(journal, batch_size=2)
    assert result.ok and result.entries == 6


async def test_changed_content_is_caught_at_that_entry():
    journal = Journal()
    journal.docs[2]["body"] = journal.docs[2]["body"].replace("1002", "9002")
    assert (journal_first := (await verify(journal)).first).seq == 3
    assert "content" in journal_first.reason


async def test_a_resealed_entry_breaks_the_next_link():
    journal = Journal()
    forged = journal.docs[2]["body"].replace("1002", "9002")
    journal.docs[2].update(body=forged, hash=digest(forged))
    first = (await verify(journal)).first
    assert first.seq == 4 and "link" in first.reason


async def test_deleted_entries_are_caught():
    journal = Journal()
    del journal.docs[3]
    assert "missing" in (await verify(journal)).first.reason
    journal = Journal()
    journal.docs.pop()
    assert "records 6 entries" in (await verify(journal)).first.reason


async def test_an_entry_moved_to_another_place_is_caught():
    journal = Journal()
    journal.docs[1]["_id"] = "donation:other"
    assert "differ" in (await verify(journal)).first.reason
