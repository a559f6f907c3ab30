"""Casting, changing and counting ballots without multi-document transactions.

Cast (first ballot of a household): bind the household's eligibility token to the voter's
key commitment (one insert keyed by the token), then insert ballot 1 (one insert: the commit point).
Change: insert ballot n+1 naming ballot n's receipt as ``prev`` (the commit point), then mark
ballot n superseded (a hint for people; counting never reads it). Inserts of concurrent
requests share one ``insert_many`` (``batching``), each document still on its own. A crash
between any two steps leaves either no new ballot (the voter saw no success and may retry
with the same key: the retry completes or finds its own ballot) or a complete one. Two
casts racing for the same number collide on ``_id``; the loser is told to retry. Counting
takes the heads of the chains: exactly one ballot per household that cast one."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.consult.domain import ballots as chain
from services.consult.domain.counting import count, outcome_to_dict
from services.consult.domain.polls import Poll, Refused, accepting, check_choice, quorum_needed
from services.consult.records import poll_from_doc
from services.consult.store import ConsultStore


@dataclass(frozen=True)
class Cast:
    receipt: str
    number: int  # the household's n-th ballot
    status: str  # cast | changed | unchanged


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
    ):
        self._store = store
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
        self, poll_id: str, household: str, ballot_key: str, choice: tuple[str, ...]
    ) -> Cast:
        """Cast or change the household's ballot; ``Refused`` says why not (nothing stored)."""
        poll = await self.poll(poll_id)
        accepting(poll, self._clock())
        check_choice(poll.rules, choice)
        token = self.token(poll_id, household)
        commitment = chain.key_commitment(ballot_key)
        bound, fresh = await self._store.bind_token(poll_id, token, commitment)
        if bound is None:
            raise Refused("not_on_roll", "the household is not on this poll's roll", "body")
        if bound != commitment:
            raise Refused(
                "other_key",
                "this household voted with another ballot key; change it with that key",
                "body.ballot_key",
            )
        return await self._append(poll_id, token, ballot_key, choice, first=fresh)

    async def _append(
        self, poll_id: str, token: str, ballot_key: str, choice: tuple[str, ...], first: bool
    ) -> Cast:
        """Insert the household's next ballot; ``first``: the binding was made just now, so
        no ballot can exist under this key yet and none is looked for."""
        ballots = self._store.ballots(poll_id)
        last, n = None, 1
        while not first and (
            doc := await ballots.find_one({"_id": chain.ballot_id(ballot_key, token, n)})
        ):
            last, n = doc, n + 1
        if last is not None and tuple(last["choice"]) == choice:
            return Cast(last["receipt"], n - 1, "unchanged")
        new_id = chain.ballot_id(ballot_key, token, n)
        receipt = chain.receipt(new_id, choice)
        prev = last["receipt"] if last else None
        doc = {"_id": new_id, "choice": list(choice), "receipt": receipt, "prev": prev}
        if not await self._store.batcher.insert(ballots, doc):
            raced = await ballots.find_one({"_id": new_id})
            if raced and tuple(raced["choice"]) == choice:
                return Cast(raced["receipt"], n, "unchanged")
            raise Refused("conflict", "another ballot was cast at the same time; retry", "body")
        if last is not None:
            await ballots.update_one({"_id": last["_id"]}, {"$set": {"superseded": True}})
        return Cast(receipt, n, "changed" if last else "cast")

    async def published(self, poll_id: str) -> list[dict[str, Any]]:
        """The ballot list anyone may recount: every ballot's receipt, choice and the receipt
        it replaced, sorted by receipt (so the order says nothing of when it was cast)."""
        rows = [
            {"receipt": d["receipt"], "prev": d.get("prev"), "choice": d["choice"]}
            async for d in self._store.ballots(poll_id).find(
                {}, {"_id": 0, "receipt": 1, "prev": 1, "choice": 1}
            )
        ]
        rows.sort(key=lambda r: r["receipt"])
        return rows

    async def tally(self, poll: Poll) -> dict[str, Any]:
        rows = await self.published(poll.id)
        return tally_published(poll, rows)


def ballots_digest(rows: list[dict[str, Any]]) -> str:
    text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def tally_published(poll: Poll, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The result of a published ballot list: what the service publishes and what
    ``linli consult recount`` recomputes."""
    counted = chain.heads(rows)
    outcome = count(poll.rules.kind, poll.rules.option_ids, (tuple(r["choice"]) for r in counted))
    needed = quorum_needed(poll)
    return {
        "outcome": outcome_to_dict(outcome),
        "turnout": len(counted),
        "ballots_cast": len(rows),
        "roll_size": poll.roll_size,
        "quorum_needed": needed,
        "quorum_met": len(counted) >= needed,
        "ballots_digest": ballots_digest(rows),
    }
