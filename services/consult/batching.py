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
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from services.consult.domain.ballots import Packed, pack

DUPLICATE_KEY = 11000


class _Lane:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection
        self.pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self.flushing: asyncio.Task | None = None


class InsertBatcher:
    def __init__(self, max_batch: int = 500):
        self._lanes: dict[str, _Lane] = {}
        self._max = max_batch

    async def insert(self, collection: AsyncCollection, doc: dict[str, Any]) -> bool:
        """True if inserted, False if a document with this ``_id`` was there."""
        lane = self._lanes.get(collection.full_name)
        if lane is None:
            lane = self._lanes[collection.full_name] = _Lane(collection)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        lane.pending.append((doc, future))
        if lane.flushing is None:
            lane.flushing = asyncio.create_task(self._flush(lane))
        return await future

    async def _flush(self, lane: _Lane) -> None:
        try:
            while lane.pending:
                batch, lane.pending = lane.pending[: self._max], lane.pending[self._max :]
                await self._write(lane.collection, batch)
        finally:
            lane.flushing = None

    async def _write(self, collection: AsyncCollection, batch: list) -> None:
        random.shuffle(batch)  # stored in no particular order within a round trip
        try:
            await collection.insert_many([doc for doc, _ in batch], ordered=False)
            failed: dict[int, int] = {}
        except BulkWriteError as exc:
            failed = {e["index"]: e.get("code", 0) for e in exc.details.get("writeErrors", [])}
        except Exception as exc:  # the server is away: every caller hears it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for index, (_, future) in enumerate(batch):
            code = failed.get(index)
            if future.done():
                continue
            if code is None:
                future.set_result(True)
            elif code == DUPLICATE_KEY:
                future.set_result(False)
            else:
                future.set_exception(RuntimeError(f"insert failed with code {code}"))


class BallotPacker:
    """Ballots of concurrent casts packed into one batch document per round trip (``pack``):
    one insert, atomic, under a random ``_id``; each caller learns the batch its ballot went
    in once the server acknowledged it. Counting reads a few batches instead of every ballot."""

    def __init__(self, max_batch: int = 500):
        self._lanes: dict[str, _Lane] = {}
        self._max = max_batch

    async def put(self, collection: AsyncCollection, ballots: list[Packed]) -> str:
        lane = self._lanes.get(collection.full_name)
        if lane is None:
            lane = self._lanes[collection.full_name] = _Lane(collection)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        lane.pending.append((ballots, future))
        if lane.flushing is None:
            lane.flushing = asyncio.create_task(self._flush(lane))
        return await future

    async def _flush(self, lane: _Lane) -> None:
        try:
            while lane.pending:
                batch, lane.pending = lane.pending[: self._max], lane.pending[self._max :]
                batch_id = "k_" + secrets.token_hex(10)
                doc = {"_id": batch_id, "ballots": pack(b for bs, _ in batch for b in bs)}
                try:
                    await lane.collection.insert_one(doc)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for _, future in batch:
                    if not future.done():
                        future.set_result(batch_id)
        finally:
            lane.flushing = None


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
