"""Group commit: concurrent callers' items written together, one round trip for many.

Items that arrive while a write is in flight wait for the next one, so a write holds whatever
came in during the previous round trip (at most ``max_batch``). Each caller awaits its own
result, given only once the write is acknowledged, or the write's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# A write gets the batch's items and returns one result per item, in order; a result that is an
# exception is raised to that item's caller alone. An exception raised by the write itself (the
# server is away) reaches every caller of the batch.
Write = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


class GroupCommit(Generic[T, R]):
    def __init__(self, write: Write, max_batch: int = 500, *, gather_turn: bool = False):
        """``gather_turn``: let the callers of the current loop turn queue up before each
        write (one more batch member instead of a write of one)."""
        self._write = write
        self._max = max_batch
        self._gather_turn = gather_turn
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            if self._gather_turn:
                await asyncio.sleep(0)
            batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            try:
                results = await self._write([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
            except Exception as exc:  # every caller of the batch hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
