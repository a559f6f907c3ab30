"""Chain verification over an in-memory journal of blocks: order-independent streaming, and
every kind of tampering (changed content, re-sealed hash, deleted entry or block, removed
tail, moved entry, damaged block data), plus the block format's round trip."""

import random
from datetime import UTC, datetime

import pytest

from services.ledger.chain import export_hledger, verify
from services.ledger.domain.journal import GENESIS, digest, seal
from services.ledger.domain.postings import donation_draft
from services.ledger.store import PACKED, Block, block_id, pack, unpack

pytestmark = pytest.mark.unit


class Journal:
    """Six entries of fund ``w`` in blocks of two (seq 1-2, 3-4, 5-6)."""

    def __init__(self, n: int = 6, per_block: int = 2):
        lines, head, balance = [], GENESIS, 0
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
            lines.append((entry.hash, entry.body))
        self.blocks = [
            self.block(first, lines[first - 1 : first - 1 + per_block])
            for first in range(1, n + 1, per_block)
        ]
        self.fund = {"_id": "w", "seq": n, "head": head, "balance_fen": balance}

    @staticmethod
    def block(first: int, lines, fund: str = "w") -> Block:
        return Block(block_id(fund, first), fund, first, first + len(lines) - 1, lines)

    def edit(self, seq: int, body: str, hash_: str | None = None) -> None:
        """Replace the stored body (and hash) of entry ``seq``."""
        for n, b in enumerate(self.blocks):
            if b.first <= seq <= b.last:
                lines = list(b.lines)
                old_hash, _ = lines[seq - b.first]
                lines[seq - b.first] = (hash_ or old_hash, body)
                self.blocks[n] = self.block(b.first, lines)

    def body(self, seq: int) -> str:
        for b in self.blocks:
            if b.first <= seq <= b.last:
                return b.lines[seq - b.first][1]
        raise KeyError(seq)

    async def stream_blocks(self, batch_size=0):
        for block in self.blocks:
            yield block

    async def all_funds(self):
        return [self.fund]


def test_blocks_store_their_lines_compressed_and_give_them_back():
    lines = [(digest(b), b) for b in ('{"a":"x\\ny"}', '{"b":"中"}')]
    assert unpack(pack(lines)) == lines
    assert (
        Block.from_doc({"_id": "w/1", "fund": "w", "first": 1, "last": 2, PACKED: b"junk"}).lines
        is None
    )


async def test_an_intact_chain_verifies_in_any_storage_order():
    journal = Journal()
    random.Random(7).shuffle(journal.blocks)
    seen = []
    result = await verify(journal, batch_size=2, progress=seen.append)
    assert result.ok and result.entries == 6 and sum(seen) == 6


async def test_changed_content_is_caught_at_that_entry():
    journal = Journal()
    journal.edit(3, journal.body(3).replace("1002", "9002"))
    first = (await verify(journal)).first
    assert first.seq == 3 and first.entry_id == "donation:g2" and "content" in first.reason


async def test_a_resealed_entry_breaks_the_next_link():
    journal = Journal()
    forged = journal.body(3).replace("1002", "9002")
    journal.edit(3, forged, digest(forged))
    first = (await verify(journal)).first
    assert first.seq == 4 and "link" in first.reason


async def test_deleted_entries_are_caught():
    journal = Journal()
    del journal.blocks[1]
    assert "missing" in (await verify(journal)).first.reason
    journal = Journal()
    journal.blocks[1] = journal.block(3, journal.blocks[1].lines[1:])  # entry 3 taken out
    assert "link" in (await verify(journal)).first.reason
    journal = Journal()
    journal.blocks.pop()
    assert "records 6 entries" in (await verify(journal)).first.reason


async def test_an_entry_moved_to_another_place_is_caught():
    journal = Journal()
    moved = journal.blocks[1]
    journal.blocks[1] = Block(block_id("w", 3), "other", 3, 4, moved.lines)
    result = await verify(journal)
    assert any(b.fund == "other" and "no fund record" in b.reason for b in result.breaks)
    assert any(b.fund == "w" and "missing" in b.reason for b in result.breaks)
    journal = Journal()
    journal.blocks[1] = Block("w/000000000003", "w", 3, 5, journal.blocks[1].lines)
    assert "not where" in (await verify(journal)).first.reason


async def test_damaged_block_data_is_caught():
    journal = Journal()
    journal.blocks[1] = Block(journal.blocks[1].id, "w", 3, 4, None)
    first = (await verify(journal)).first
    assert first.seq == 3 and "cannot be read" in first.reason


def _resealed(journal: Journal, seq: int, change) -> None:
    """Entry ``seq`` changed and sealed again (its hash matches), as a buggy writer or an
    intruder could leave it; the next link then breaks, but nothing may crash before."""
    forged = change(journal.body(seq))
    journal.edit(seq, forged, digest(forged))


async def test_an_amount_beyond_64_bits_or_the_bound_is_reported_not_a_crash():
    for amount in (2**63, 2**64 + 5, 100_000_000_001):
        journal = Journal()
        _resealed(journal, 2, lambda body, a=amount: body.replace("1001", str(a)))
        first = (await verify(journal)).first
        assert first.seq == 2 and "within the bound" in first.reason, first
        written: list[str] = []
        balances = await export_hledger(journal, written.append)  # the books as they are
        assert balances["assets:bank:main"] == sum(1000 + i for i in range(6)) - 1001 + amount


async def test_an_entry_that_is_not_an_entry_is_reported_and_not_exported():
    for change in (
        lambda body: "[1, 2]",
        lambda body: body.replace('"legs":', '"gels":'),
        lambda body: body.replace('"seq":2', '"seq":"2"'),
    ):
        journal = Journal()
        _resealed(journal, 2, change)
        first = (await verify(journal)).first
        assert first.seq == 2 and ("cannot be read" in first.reason or "moved" in first.reason)
        with pytest.raises(ValueError, match="cannot be read"):
            await export_hledger(journal, lambda _: None)
