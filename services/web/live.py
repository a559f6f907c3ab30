"""Live boards: a signed-in person's open queue or deadline board is told when a case in
their scope changed, and reloads. What changes is asked of dispatch with the person's own
token (``GET /queue/stamp``: a stamp of their scope, nothing else), so nothing outside the
scope is ever pushed, not even an id.

Streams are bounded per person and per process; the stamp of a scope is asked at most once
per interval however many streams of that scope are open."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager

CHANGED = "changed"
KEEP_ALIVE = ""

Ask = Callable[[], Awaitable[str]]


class TooManyStreams(Exception):
    """The person (or this process) holds as many live streams as it may."""


class LiveBoards:
    def __init__(
        self,
        *,
        per_person: int,
        streams: int,
        poll_s: float,
        stream_s: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.per_person, self.streams = per_person, streams
        self.poll_s, self.stream_s, self._clock = poll_s, stream_s, clock
        self._open: Counter[str] = Counter()
        self._scopes: Counter[str] = Counter()
        self._stamps: dict[str, tuple[float, str | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def open_streams(self) -> int:
        return sum(self._open.values())

    def admit(self, username: str) -> None:
        """``TooManyStreams`` when the person or the process is at its bound."""
        if self._open[username] >= self.per_person or self.open_streams >= self.streams:
            raise TooManyStreams(username)

    @contextmanager
    def held(self, username: str, scope: str) -> Iterator[None]:
        """One stream of the person's, counted while inside (taken by the stream itself, so
        a stream that never started holds nothing)."""
        self._open[username] += 1
        self._scopes[scope] += 1
        try:
            yield
        finally:
            self._open[username] -= 1
            self._scopes[scope] -= 1
            if self._open[username] <= 0:
                del self._open[username]
            if self._scopes[scope] <= 0:  # nobody watches it now: forget its stamp
                del self._scopes[scope]
                self._stamps.pop(scope, None)
                self._locks.pop(scope, None)

    async def stamp(self, scope: str, ask: Ask) -> str | None:
        """The scope's stamp: the one asked less than an interval ago, else asked now (None
        while dispatch cannot answer)."""
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:
            found = self._stamps.get(scope)
            if found is not None and self._clock() - found[0] < self.poll_s * 0.9:
                return found[1]
            try:
                stamp: str | None = await ask()
            except Exception:  # dispatch away or refusing: the stream waits and asks again
                stamp = None
            self._stamps[scope] = (self._clock(), stamp)
            return stamp

    async def follow(
        self, scope: str, ask: Ask, still_here: Callable[[], Awaitable[bool]]
    ) -> AsyncIterator[str]:
        """``CHANGED`` each time the scope's stamp moves, ``KEEP_ALIVE`` between, for as long
        as ``still_here()`` says and at most ``stream_s``."""
        last = await self.stamp(scope, ask)
        ends = self._clock() + self.stream_s
        while self._clock() < ends:
            await asyncio.sleep(self.poll_s)
            if not await still_here():
                return
            now = await self.stamp(scope, ask)
            if now is not None and last is not None and now != last:
                yield CHANGED
            else:
                yield KEEP_ALIVE
            last = now if now is not None else last
