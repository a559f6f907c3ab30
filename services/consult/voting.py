"""Casting, changing and counting ballots without multi-document transactions.

Cast (first ballot of a household): bind the household's eligibility token to the voter's
key commitment (one insert keyed by the token; ``store.bind_token``), then insert ballot
record 1 (one insert, the
commit point of the household's chain). Change: insert record n+1 naming record n's receipt
as ``prev``. Two casts racing for the same number collide on ``_id``; the loser is told to
retry. Then the ballot (with the one it replaces) is packed into a *batch* document shared
with the concurrent casts (``batching.BallotPacker``): the count reads the batches, a few
documents, not every record. A crash between any two steps leaves the voter without an
answer, and the retry with the same key finds its record and packs it again (the count
takes each receipt once, and the head of each chain: one ballot per household).

The close fences the writes: a cast answers success only when a read of the poll begun after
its batch was stored still says open (the count reads after the close, so it holds that
batch), or when the stored count names its batch. Otherwise the ballot is withdrawn and
refused: nothing of it stays."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.consult.batching import FreshReads
from services.consult.domain import ballots as chain
from services.consult.domain.counting import count, outcome_to_dict
from services.consult.domain.polls import Poll, Refused, accepting, check_choice, quorum_needed
from services.consult.records import poll_from_doc
from services.consult.store import ConsultStore

COUNT_POLL_S = 0.2  # how often a ballot that raced the close looks for the count


@dataclass(frozen=True)
class Cast:
    receipt: str
    number: int  # the household's n-th ballot
    status: str  # cast | changed | unchanged


@dataclass(frozen=True)
class _Step:
    cast: Cast
    lines: list[chain.Packed]  # what goes in the batch: the ballot, and the one it replaces
    inserted: str | None = None  # the ballot record this cast inserted
    replaced: str | None = None  # the record of the ballot it replaced


class Voting:
    """``poll_ttl_s``: how old a poll read may be when a ballot is checked against it (0:
    read every time). Closing waits longer than this before it counts (the settle time), so
    a ballot accepted on a stale read is still in the count."""

    def __init__(
        self,
        store: ConsultStore,
        server_key: str,
        clock: Callable[[], datetime],
        poll_ttl_s: float = 0.0,
        count_wait_s: float = 120.0,
    ):
        self._store = store
        self._count_wait_s = count_wait_s
        self._status = FreshReads(self._read_status)
        self._key = server_key
        self._clock = clock
        self._ttl = poll_ttl_s
        self._polls: dict[str, tuple[float, Poll]] = {}

    def token(self, poll_id: str, household: str) -> str:
        return chain.token_id(self._key, poll_id, household)

    async def poll(self, poll_id: str) -> Poll:
        cached = self._polls.get(poll_id)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        doc = await self._store.get(self._store.polls, poll_id)
        if doc is None:
            raise Refused("not_found", f"no poll {poll_id}", "path.poll_id")
        poll = poll_from_doc(doc)
        if self._ttl > 0:
            self._polls[poll_id] = (time.monotonic(), poll)
        return poll

    async def cast(
        self,
        poll_id: str,
        household: str,
        ballot_key: str,
        choice: tuple[str, ...],
        claim: Callable[[str], Awaitable[None]] | None = None,
    ) -> Cast:
        """Cast or change the household's ballot; ``Refused`` says why not (nothing stored).
        ``claim``: called with the key's commitment once the ballot passed its checks (a
        paper code is bound to the key then, not before)."""
        poll = await self.poll(poll_id)
        accepting(poll, self._clock())
        check_choice(poll.rules, choice)
        token = self.token(poll_id, household)
        commitment = chain.key_commitment(ballot_key)
        if claim is not None:
            await claim(commitment)
        bound, fresh = await self._store.bind_token(poll_id, token, commitment)
        if bound is None:
            raise Refused("not_on_roll", "the household is not on this poll's roll", "body")
        if bound != commitment:
            raise Refused(
                "other_key",
                "this household voted with another ballot key; change it with that key",
                "body.ballot_key",
            )
        step = await self._append(poll_id, token, ballot_key, choice, first=fresh)
        batch = await self._store.packer.put(self._store.batches(poll_id), step.lines)
        await self._fenced(poll_id, batch, step, token if fresh else None)
        if step.replaced is not None:  # a hint for people; counting never reads it
            await self._store.ballots(poll_id).update_one(
                {"_id": step.replaced}, {"$set": {"superseded": True}}
            )
        return step.cast

    async def _append(
        self, poll_id: str, token: str, ballot_key: str, choice: tuple[str, ...], first: bool
    ) -> _Step:
        """Insert the household's next ballot (the commit point of its chain); ``first``: the
        binding was made just now, so no ballot can exist under this key yet."""
        ballots = self._store.ballots(poll_id)
        last, n = None, 1
        while not first and (
            doc := await ballots.find_one({"_id": chain.ballot_id(ballot_key, token, n)})
        ):
            last, n = doc, n + 1
        if last is not None and tuple(last["choice"]) == choice:  # a retry, or no change
            return _Step(Cast(last["receipt"], n - 1, "unchanged"), [_line(last)])
        new_id = chain.ballot_id(ballot_key, token, n)
        receipt = chain.receipt(new_id, choice)
        doc = {"_id": new_id, "choice": list(choice), "receipt": receipt}
        doc["prev"] = last["receipt"] if last else None
        if not await self._store.batcher.insert(ballots, doc):
            raced = await ballots.find_one({"_id": new_id})
            if raced and tuple(raced["choice"]) == choice:
                return _Step(Cast(raced["receipt"], n, "unchanged"), [_line(raced)])
            raise Refused("conflict", "another ballot was cast at the same time; retry", "body")
        # the ballot it replaces is packed again beside it: a chain stays whole in the
        # batches even when a crash lost the batch of an earlier step
        lines = ([_line(last)] if last else []) + [_line(doc)]
        status = "changed" if last else "cast"
        return _Step(Cast(receipt, n, status), lines, new_id, last["_id"] if last else None)

    async def _fenced(self, poll_id: str, batch: str, step: _Step, bound: str | None) -> None:
        """Succeed only if the ballot's batch is counted. A batch written while the poll is
        open (a read begun after the write says so) is in the count, which reads after the
        close; one that raced the close is counted only if the count read it. A ballot the
        count did not take is withdrawn (its batch and record deleted) and refused."""
        if await self._status.get(poll_id) == "open":
            return
        counted = await self._counted(poll_id)
        if batch in counted:
            return
        await self._store.batches(poll_id).delete_one({"_id": batch})
        if step.inserted is not None:
            await self._store.ballots(poll_id).delete_one({"_id": step.inserted})
        if bound is not None:  # bound by this cast: the household has not voted after all
            await self._store.unbind(poll_id, bound)
        raise Refused(
            "poll_closed", "the poll closed before this ballot was stored", "path.poll_id"
        )

    async def _read_status(self, poll_id: str) -> str | None:
        doc = await self._store.polls.find_one({"_id": poll_id}, {"status": 1})
        return doc["status"] if doc else None

    async def _counted(self, poll_id: str) -> set[str]:
        """The batches the count took, once it is stored."""
        waited = 0.0
        while True:
            doc = await self._store.counts.find_one({"_id": poll_id})
            if doc is not None:
                return set(doc["batches"])
            if waited >= self._count_wait_s:
                raise Refused("counting", "the poll is being counted; ask again", "path.poll_id")
            await asyncio.sleep(COUNT_POLL_S)
            waited += COUNT_POLL_S

    async def lines(self, poll_id: str, only: set[str] | None = None) -> tuple[set[str], list]:
        """(the ballots' lines, each once; the ids of the batches read); ``only``: those."""
        lines: set[str] = set()
        ids = []
        async for doc in self._store.batches(poll_id).find({}):
            if only is None or doc["_id"] in only:
                lines.update(doc["ballots"].split("\n"))
                ids.append(doc["_id"])
        return lines, ids

    async def published(self, poll_id: str) -> list[dict[str, Any]]:
        """The ballot list anyone may recount: every counted ballot's receipt, choice and the
        receipt it replaced, sorted by receipt (so the order says nothing of when it was cast)."""
        doc = await self._store.counts.find_one({"_id": poll_id})
        lines, _ = await self.lines(poll_id, set(doc["batches"]) if doc else set())
        return chain.published_rows(lines)

    async def tally(self, poll: Poll) -> dict[str, Any]:
        """Count once: the batches read are stored first (an insert: a second count, after a
        crash or by another process, takes the same batches), then counted."""
        lines, ids = await self.lines(poll.id)
        if not await self._store.insert(self._store.counts, {"_id": poll.id, "batches": ids}):
            earlier = await self._store.counts.find_one({"_id": poll.id})
            if set(earlier["batches"]) != set(ids):
                lines, _ = await self.lines(poll.id, set(earlier["batches"]))
        return tally_lines(poll, lines)


def _line(doc: dict[str, Any]) -> chain.Packed:
    return (doc["receipt"], doc.get("prev"), tuple(doc["choice"]))


def tally_lines(poll: Poll, lines: set[str]) -> dict[str, Any]:
    """The result of a ballot list (as lines, ``domain.ballots``): what the service publishes
    and what ``linli consult recount`` recomputes from the published list."""
    choices = chain.counted_choices(lines)
    rankings = Counter({tuple(text.split(",")): n for text, n in choices.items()})
    outcome = count(poll.rules.kind, poll.rules.option_ids, rankings)
    turnout = sum(choices.values())
    needed = quorum_needed(poll)
    return {
        "outcome": outcome_to_dict(outcome),
        "turnout": turnout,
        "ballots_cast": len(lines),
        "roll_size": poll.roll_size,
        "quorum_needed": needed,
        "quorum_met": turnout >= needed,
        "ballots_digest": chain.digest(lines),
    }


def tally_published(poll: Poll, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return tally_lines(poll, chain.lines_of(rows))
