"""Consult's MongoDB adapter (database ``<prefix>consult``). No multi-document transactions
and, on FerretDB, only exact ``_id`` reads are indexed, so every hot read and write is one
document by ``_id`` and every multi-step change is safe to stop between any two steps:

- ``households``: the roll, ``_id`` = ``<building>|<household>``: the building, its label,
  the pseudonymous references of its members with phones, and the language for notices;
- ``members``: ``_id`` = resident reference, the households that resident belongs to;
- ``keys``: offices' and the compound parties' keys, ``_id`` = SHA-256 of the key;
- ``polls``: one document per poll (its frozen rules, status, announcements, results);
- per poll ``roll_<poll>`` (the roll frozen at opening, ``_id`` = household key),
  ``tokens_<poll>`` (eligibility, ``_id`` = token id), ``bindings_<poll>`` (``_id`` = token
  id, ``c`` = commitment to the voter's ballot key, inserted once; dropped after the count,
  with the ballot records) and ``ballots_<poll>``
  (``_id`` = ballot id: ``choice``, ``receipt``, ``prev``; the chains' commit points, read by
  ``_id`` only) and ``batches_<poll>`` (``_id`` random: the ballots of concurrent casts packed
  in one string, what the count reads);
- ``papercodes``: ``_id`` = SHA-256 of a printed one-time code, the poll and household, and
  once used the commitment to the ballot key that used it;
- ``counts``: ``_id`` = poll, the batches its count read (inserted once, when it closes);
- ``consultations``, ``comments``, ``resolutions``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.consult.batching import BallotPacker, InsertBatcher

KEPT_ROLLS = 32  # polls whose frozen roll a process keeps in memory


class Stale(Exception):
    """The document changed since it was read (optimistic concurrency)."""


async def insert_missing(collection: AsyncCollection, docs: list[dict[str, Any]]) -> int:
    """Insert what is not there yet (a retry of a half-done batch is harmless)."""
    if not docs:
        return 0
    try:
        result = await collection.insert_many(docs, ordered=False)
        return len(result.inserted_ids)
    except BulkWriteError as exc:
        others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != 11000]
        if others:
            raise
        return exc.details.get("nInserted", 0)


class ConsultStore:
    def __init__(self, db: AsyncDatabase):
        self.db = db
        self.households = db["households"]
        self.members = db["members"]
        self.keys = db["keys"]
        self.polls = db["polls"]
        self.papercodes = db["papercodes"]
        self.counts = db["counts"]
        self.consultations = db["consultations"]
        self.comments = db["comments"]
        self.resolutions = db["resolutions"]
        self._eligible: dict[str, set[str]] = {}
        self.batcher = InsertBatcher()
        self.packer = BallotPacker()
        self._loading: dict[str, asyncio.Lock] = {}

    async def prepare(self) -> None:
        """Nothing to index: every read is by ``_id``."""

    def roll(self, poll_id: str) -> AsyncCollection:
        return self.db[f"roll_{poll_id}"]

    def tokens(self, poll_id: str) -> AsyncCollection:
        return self.db[f"tokens_{poll_id}"]

    def ballots(self, poll_id: str) -> AsyncCollection:
        return self.db[f"ballots_{poll_id}"]

    def batches(self, poll_id: str) -> AsyncCollection:
        return self.db[f"batches_{poll_id}"]

    # versioned documents (polls, resolutions) ------------------------------------------
    async def insert(self, collection: AsyncCollection, doc: dict[str, Any]) -> bool:
        try:
            await collection.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    async def replace(self, collection: AsyncCollection, doc: dict[str, Any], version: int) -> None:
        """Replace only if nobody changed it since ``version`` was read."""
        result = await collection.replace_one({"_id": doc["_id"], "version": version}, doc)
        if result.matched_count == 0:
            raise Stale(doc["_id"])

    async def get(self, collection: AsyncCollection, doc_id: str) -> dict[str, Any] | None:
        return await collection.find_one({"_id": doc_id})

    async def all(self, collection: AsyncCollection) -> AsyncIterator[dict[str, Any]]:
        async for doc in collection.find({}):
            yield doc

    # the roll -----------------------------------------------------------------------------
    async def put_households(self, docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            await self.households.replace_one({"_id": doc["_id"]}, doc, upsert=True)
            for ref in doc["resident_refs"]:
                await self.members.update_one(
                    {"_id": ref}, {"$addToSet": {"households": doc["_id"]}}, upsert=True
                )

    async def households_of(self, ref: str) -> list[str]:
        doc = await self.members.find_one({"_id": ref})
        return list(doc["households"]) if doc else []

    # ballots ----------------------------------------------------------------------------
    async def eligible(self, poll_id: str, token: str) -> bool:
        """Whether the token is on the poll's frozen roll. The roll never changes once the
        poll is open, so a poll's tokens are read once per process and kept (a set of ids)."""
        tokens = self._eligible.get(poll_id)
        if tokens is None:
            async with self._loading.setdefault(poll_id, asyncio.Lock()):
                tokens = self._eligible.get(poll_id)
                if tokens is None:
                    cursor = self.tokens(poll_id).find({}, {"_id": 1})
                    tokens = {doc["_id"] async for doc in cursor}
                    if tokens:  # empty: perhaps not frozen yet; read again next time
                        self._eligible[poll_id] = tokens
                        while len(self._eligible) > KEPT_ROLLS:  # the oldest read goes
                            self._eligible.pop(next(iter(self._eligible)))

        return token in tokens

    def bindings(self, poll_id: str) -> AsyncCollection:
        return self.db[f"bindings_{poll_id}"]

    async def bind_token(
        self, poll_id: str, token: str, commitment: str
    ) -> tuple[str | None, bool]:
        """Bind an eligible token, once, to the voter's key commitment: (the commitment it is
        bound to, this one or an earlier one, or None when the token is not on the roll;
        whether the binding was made by this call). The binding is an insert keyed by the
        token (FerretDB applies a conditional update as read-then-write; an insert's unique
        ``_id`` is its one atomic step), so two first votes cannot both bind."""
        if not await self.eligible(poll_id, token):
            return None, False
        if await self.batcher.insert(self.bindings(poll_id), {"_id": token, "c": commitment}):
            return commitment, True
        bound = await self.bindings(poll_id).find_one({"_id": token})
        return (bound["c"] if bound else None), False

    async def unbind(self, poll_id: str, token: str) -> None:
        """Undo a binding made by a ballot that was then refused (it raced the close)."""
        await self.bindings(poll_id).delete_one({"_id": token})

    async def has_voted(self, poll_id: str, token: str) -> bool:
        return await self.bindings(poll_id).find_one({"_id": token}, {"_id": 1}) is not None

    async def households_voted(self, poll_id: str) -> int:
        return await self.bindings(poll_id).count_documents({})

    async def drop_arrival_order(self, poll_id: str) -> None:
        """After the count: the records kept in the order ballots came (the bindings, which
        name households through their tokens, and the ballot records) are no longer needed;
        the batches hold every counted ballot."""
        await self.bindings(poll_id).drop()
        await self.ballots(poll_id).drop()

    async def claim_paper_code(self, code_hash: str, commitment: str) -> bool:
        """Bind a printed code to a ballot key's commitment, in place (the code's record was
        written when it was printed; no record is added at voting time). True when it is
        bound to this commitment, now or by an earlier attempt."""
        doc = await self.papercodes.find_one({"_id": code_hash})
        if doc is None:
            return False
        if doc.get("c") is None:
            await self.papercodes.update_one(
                {"_id": code_hash}, {"$set": {"c": commitment, "used": True}}
            )
            return True
        return doc["c"] == commitment
