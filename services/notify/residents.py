"""Residents' own use cases: opening their things with their token, reading the inbox,
following it live, and their preferences."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from services.notify.domain import Channel, Preferences
from services.notify.domain.refusals import Incomplete, NotSignedIn
from services.notify.live import LiveInbox
from services.notify.notices import recipient_of
from services.notify.store import NotifyStore
from shared.residents import token_matches

REPLAY_PAGE = 100  # messages per read when a stream catches up after the last one seen
STREAM_PAGE = 50  # messages per poll of a live stream
KEEP_ALIVE = None  # what a live stream yields when nothing came: the adapter's keep-alive


class Residents:
    def __init__(
        self,
        store: NotifyStore,
        live: LiveInbox,
        *,
        secret: str,
        clock: Callable[[], datetime],
        poll_s: float = 2.0,
        stream_max_s: float = 0.0,
    ):
        self._store = store
        self._live = live
        self._secret = secret
        self._clock = clock
        self.poll_s = poll_s
        self.stream_max_s = stream_max_s  # 0: a stream lasts as long as its client stays

    def check(self, ref: str, credential: str) -> None:
        """Only the resident's own token opens their things: ``NotSignedIn`` otherwise."""
        if not credential or not token_matches(self._secret, ref, credential):
            raise NotSignedIn("a valid resident token is required")

    async def inbox(self, ref: str, limit: int) -> list[dict[str, Any]]:
        """The resident's messages, newest first."""
        return await self._store.inbox(ref, limit)

    async def follow(
        self, ref: str, last_seen: str | None, connected: Callable[[], Awaitable[bool]]
    ) -> AsyncIterator[dict[str, Any] | None]:
        """The resident's messages as they come, each once: first those stored after
        ``last_seen`` (oldest first), then new ones; ``KEEP_ALIVE`` between waits, for as long
        as ``connected()`` says and, when ``stream_max_s`` is set, no longer than that (the
        client reconnects with the last id it got). The database away only delays them."""
        since = self._clock()
        ends = since + timedelta(seconds=self.stream_max_s) if self.stream_max_s else None
        seen: set[str] = set()
        if last_seen:
            async for doc in self._missed(ref, last_seen):
                if doc["_id"] not in seen:
                    seen.add(doc["_id"])
                    yield doc
        while await connected():
            try:
                docs = await self._store.inbox(ref, STREAM_PAGE, after=since)
            except Exception:
                docs = []
            for doc in reversed(docs):
                if doc["_id"] in seen:
                    continue
                seen.add(doc["_id"])
                since = max(since, doc["created_at"])
                yield doc
            left = (ends - self._clock()).total_seconds() if ends else self.poll_s
            if left <= 0:  # after a poll: what was stored before the end has been sent
                return
            await self._live.wait(ref, min(self.poll_s, left))
            yield KEEP_ALIVE

    async def _missed(self, ref: str, last_id: str) -> AsyncIterator[dict[str, Any]]:
        """The resident's messages stored after ``last_id``, oldest first, a page at a time
        (none when the id is unknown or not the resident's, or the database is away)."""
        while True:
            try:
                page = await self._store.inbox_after(ref, last_id, REPLAY_PAGE)
            except Exception:
                return
            for doc in page:
                yield doc
            if len(page) < REPLAY_PAGE:
                return
            last_id = page[-1]["_id"]

    async def preferences(self, ref: str) -> Preferences:
        return recipient_of(await self._store.resident(ref)).prefs

    async def set_preferences(self, ref: str, prefs: Preferences) -> Preferences:
        """Replace them; a webhook channel needs a webhook (``Incomplete`` otherwise)."""
        if Channel.WEBHOOK in prefs.channels and prefs.webhook is None:
            raise Incomplete("missing", "the webhook channel needs a webhook", "webhook")
        await self._store.save_preferences(ref, prefs.model_dump(mode="json"))
        return prefs
