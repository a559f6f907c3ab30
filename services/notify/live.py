"""Live inbox pushes (Server-Sent Events): a wake-up per resident inside this replica; the
stream also polls the database now and then, so messages stored by other replicas arrive."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import suppress


class LiveInbox:
    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def wake(self, ref: str) -> None:
        for event in self._waiters.get(ref, ()):
            event.set()

    async def wait(self, ref: str, timeout_s: float) -> None:
        """Return when a message for ``ref`` was stored here, or after ``timeout_s``."""
        event = asyncio.Event()
        self._waiters[ref].add(event)
        try:
            with suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await event.wait()
        finally:
            self._waiters[ref].discard(event)
            if not self._waiters[ref]:
                self._waiters.pop(ref, None)
