"""Inserts of concurrent requests gathered into one ``insert_many`` per collection.

Each document is still inserted on its own (unordered; a document is atomic, the batch is
not): a caller learns whether *its* document went in, or hit an existing ``_id``, and is
answered only after the server acknowledged it. Requests arriving while a batch is in flight
wait for the next one, so a batch holds whatever came in during the previous round trip."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from services.consult.domain.ballots import Packed, pack
from shared.group_commit import GroupCommit

DUPLICATE_KEY = 11000


class InsertBatcher:
    def __init__(self, max_batch: int = 500):
        self._lanes: dict[str, GroupCommit[dict[str, Any], bool]] = {}
        self._max = max_batch

    async def insert(self, collection: AsyncCollection, doc: dict[str, Any]) -> bool:
        """True if inserted, False if a document with this ``_id`` was there."""
        lane = self._lanes.get(collection.full_name)
        if lane is None:
            write = partial(_insert_each, collection)
            lane = self._lanes[collection.full_name] = GroupCommit(write, self._max)
        return await lane.submit(doc)


async def _insert_each(
    collection: AsyncCollection, docs: list[dict[str, Any]]
) -> list[bool | BaseException]:
    """Each document inserted on its own, in no particular order within the round trip: True
    if it went in, False if its ``_id`` was there, else the error."""
    order = list(range(len(docs)))
    random.shuffle(order)
    try:
        await collection.insert_many([docs[i] for i in order], ordered=False)
        failed: dict[int, int] = {}
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        failed = {order[e["index"]]: e.get("code", 0) for e in errors}
    results: list[bool | BaseException] = []
    for index in range(len(docs)):
        code = failed.get(index)
        if code is None:
            results.append(True)
        elif code == DUPLICATE_KEY:
            results.append(False)
        else:
            results.append(RuntimeError(f"insert failed with code {code}"))
    return results


class BallotPacker:
    """Ballots of concurrent casts packed into one batch document per round trip (``pack``):
    one insert, atomic, under a random ``_id``; each caller learns the batch its ballot went
    in once the server acknowledged it. Counting reads a few batches instead of every ballot."""

    def __init__(self, max_batch: int = 500):
        self._lanes: dict[str, GroupCommit[list[Packed], str]] = {}
        self._max = max_batch

    async def put(self, collection: AsyncCollection, ballots: list[Packed]) -> str:
        lane = self._lanes.get(collection.full_name)
        if lane is None:
            write = partial(_insert_batch, collection)
            lane = self._lanes[collection.full_name] = GroupCommit(write, self._max)
        return await lane.submit(ballots)


async def _insert_batch(collection: AsyncCollection, casts: list[list[Packed]]) -> list[str]:
    batch_id = "k_" + secrets.token_hex(10)
    await collection.insert_one({"_id": batch_id, "ballots": pack(b for bs in casts for b in bs)})
    return [batch_id] * len(casts)


class FreshReads:
    """One read shared by the callers that asked while the previous read was in flight:
    each caller gets the answer of a read that *began after it asked* (so a write it made
    before asking is seen), and concurrent callers share one round trip."""

    def __init__(self, read: Callable[[str], Awaitable[Any]]):
        self._read = read
        self._waiting: dict[str, asyncio.Future] = {}
        self._running: dict[str, asyncio.Task] = {}

    async def get(self, key: str) -> Any:
        future = self._waiting.get(key)
        if future is None:
            future = self._waiting[key] = asyncio.get_running_loop().create_future()
            if key not in self._running:
                self._running[key] = asyncio.create_task(self._run(key))
        return await asyncio.shield(future)

    async def _run(self, key: str) -> None:
        try:
            while key in self._waiting:
                future = self._waiting.pop(key)
                try:
                    future.set_result(await self._read(key))
                except Exception as exc:
                    future.set_exception(exc)
        finally:
            self._running.pop(key, None)
