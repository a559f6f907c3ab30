"""Area broadcasts: an operator's alert to every resident below a tree node.

The fan-out streams the residents below the node in the collection's natural order (sending
starts with the first batch read; a sorted read would wait for FerretDB to sort them all), a
batch at a time. Each batch is delivered with per-recipient idempotency keys (inbox messages
in one bulk insert, ids ``<broadcast>:<resident>:inbox``), then the number walked and the
batch's counts move in one atomic write. A replica holds a renewable lease on the broadcast;
after a crash another (or the same, restarted) walks again from the start: keys already used
are skipped, so nobody gets a second copy and nobody is missed even if the order changed, and
the residents walked before are not counted again. (A broadcast begun by an earlier version
kept an id cursor instead: those up to it count as walked.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pymongo

from services.notify.channels import AddressedMessage, inbox_document
from services.notify.delivery import Deliverer
from services.notify.domain import Channel, DeliveryOutcome, delivery_id, wanted
from services.notify.live import LiveInbox
from services.notify.notices import Notice, Recipient, Steps, recipient_of
from services.notify.rendering import Message
from services.notify.store import NotifyStore
from shared.events import derived_event_id, utcnow
from shared.events.notify import NotificationRetryV1, NotificationsBatchDeliveredV1
from shared.kafka.publisher import EventPublisher
from shared.logging import get_logger
from shared.topics import NOTIFICATIONS_DELIVERED

log = get_logger("linli.notify.broadcasts")


def new_broadcast_id() -> str:
    return "bc_" + uuid.uuid4().hex[:20]


def step_counts(steps: Steps) -> Counter[str]:
    """A resident's delivery steps as progress counts: sent, queued (a retry or quiet
    hours) or failed, per channel."""
    counts: Counter[str] = Counter()
    for channel, outcome in steps:
        if outcome in (DeliveryOutcome.SENT, DeliveryOutcome.DUPLICATE):
            counts[f"sent.{channel}"] += 1
        elif outcome in (DeliveryOutcome.RETRYING, DeliveryOutcome.DEFERRED):
            counts[f"queued.{channel}"] += 1
        elif outcome == DeliveryOutcome.FAILED:
            counts[f"failed.{channel}"] += 1
    return counts


def progress_view(doc: dict[str, Any]) -> dict[str, Any]:
    progress = doc.get("progress") or {}
    return {
        "recipients": int(progress.get("recipients", 0)),
        "skipped": int(progress.get("skipped", 0)),
        "queued": {k: v for k, v in (progress.get("queued") or {}).items() if v},
        "sent": dict(progress.get("sent") or {}),
        "failed": dict(progress.get("failed") or {}),
    }


class Broadcasts:
    def __init__(
        self,
        store: NotifyStore,
        deliverer: Deliverer,
        publisher: EventPublisher,
        live: LiveInbox,
        *,
        batch: int,
        lease_s: float,
        concurrency: int = 16,
        read_timeout_s: float = 600.0,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._store = store
        self._deliverer = deliverer
        self._publisher = publisher
        self._live = live
        self._batch = batch
        self._lease = timedelta(seconds=lease_s)
        self._concurrency = concurrency
        self._read_timeout_s = read_timeout_s
        self._clock = clock
        self.owner = f"replica-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        deliverer.after_retry(self.retried)

    async def retried(self, event: NotificationRetryV1, steps: Steps) -> None:
        """A queued send of a broadcast was tried again: it leaves ``queued`` for what came
        of it (sent, failed over, or queued again)."""
        if event.kind != "broadcast":
            return
        counts = step_counts(steps)
        counts[f"queued.{event.channel}"] -= 1
        await self._store.count_broadcast(event.source_event, dict(counts))

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self, idle_s: float = 1.0) -> None:
        while True:
            try:
                worked = await self.run_once()
            except Exception as exc:  # the database or Kafka is away: try again later
                log.warning("broadcast_fan_out_failed", error=repr(exc))
                worked = False
            if not worked:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):  # idle: look again anyway
                    async with asyncio.timeout(idle_s):
                        await self._wake.wait()

    async def run_once(self) -> bool:
        now = self._clock()
        doc = await self._store.lease_broadcast(self.owner, now, now + self._lease)
        if doc is None:
            return False
        await self._fan_out(doc)
        return True

    async def _fan_out(self, doc: dict[str, Any]) -> None:
        """Read the next batch while the current one is sent."""
        broadcast_id = doc["_id"]
        cursor = self._store.residents_below(doc["node_id"], self._batch)
        batches: asyncio.Queue[list[dict[str, Any]] | None] = asyncio.Queue(maxsize=2)

        async def read() -> None:
            batch: list[dict[str, Any]] = []
            with pymongo.timeout(self._read_timeout_s):  # a slow server must not end it early
                async for resident in cursor:
                    batch.append(resident)
                    if len(batch) >= self._batch:
                        await batches.put(batch)
                        batch = []
            if batch:
                await batches.put(batch)
            await batches.put(None)

        reader = asyncio.create_task(read())
        walked = 0
        try:
            while (batch := await batches.get()) is not None:
                if not await self._send_batch(doc, batch, walked):
                    return  # cancelled, or the lease went to another replica
                walked += len(batch)
            await reader
            await self._store.finish_broadcast(broadcast_id, self.owner)
            log.info("broadcast_done", broadcast=broadcast_id)
        finally:
            reader.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await reader
            await cursor.close()

    def _notice(self, doc: dict[str, Any], ref: str) -> Notice:
        """The broadcast for one resident: in their language when the operator wrote it in
        that language, else in Chinese (and labelled so)."""
        messages = doc["messages"]
        languages = ("zh-CN", *(lang for lang in messages if lang != "zh-CN"))

        def context(lang: str) -> dict[str, Any]:
            text = messages[lang]
            return {"title": text["title"], "body": text["body"], "urgent": doc["urgent"]}

        return Notice(
            doc["_id"], "broadcast", ref, context, urgent=doc["urgent"], languages=languages
        )

    def _recipient(
        self, resident: dict[str, Any], shared: dict[str, tuple[Recipient, tuple[str, ...]]]
    ) -> tuple[Recipient, tuple[str, ...]]:
        """The resident's preferences, contact and channel plan. Residents with neither
        preferences nor contact details (most of an area) share one per language: reading
        their defaults again for each was most of a batch's CPU time."""
        plain = not (resident.get("prefs") or resident.get("phone") or resident.get("email"))
        language = resident.get("language") or ""
        if plain and language in shared:
            return shared[language]
        recipient = recipient_of(resident)
        found = (recipient, self._deliverer.plan(recipient))
        if plain:
            shared[language] = found
        return found

    def _sort(self, doc: dict[str, Any], residents: list[dict[str, Any]], walked: int) -> Batch:
        """Who of a batch gets the broadcast in the inbox (one rendering per language for the
        whole batch), who on another channel first, who opted out; who is counted now."""
        batch = Batch()
        before = _walked_before(doc)
        rendered: dict[str, Message] = {}
        shared: dict[str, tuple[Recipient, tuple[str, ...]]] = {}
        urgent = bool(doc["urgent"])
        for index, resident in enumerate(residents, start=walked):
            ref = resident["_id"]
            if not before(index, ref):
                batch.fresh.add(ref)
            recipient, plan = self._recipient(resident, shared)
            if not wanted(recipient.prefs, "broadcast", urgent=urgent):
                batch.counts["skipped"] += ref in batch.fresh
            elif plan[0] != Channel.INBOX:
                batch.others.append((self._notice(doc, ref), recipient))
            else:
                language = recipient.prefs.language
                if language not in rendered:
                    rendered[language] = self._deliverer.render(self._notice(doc, ref), language)
                batch.inbox.append(
                    AddressedMessage(
                        delivery_id=delivery_id(doc["_id"], ref, Channel.INBOX),
                        source_event=doc["_id"],
                        resident_ref=ref,
                        contact=recipient.contact,
                        message=rendered[language],
                        urgent=urgent,
                    )
                )
        return batch

    async def _to_inboxes(self, broadcast_id: str, inbox: list[AddressedMessage]) -> None:
        """One bulk insert (the ids skip those stored before), one outcome event for all."""
        await self._store.deliver_many_to_inbox(
            [{"_id": out.delivery_id, **inbox_document(out)} for out in inbox]
        )
        if not inbox:
            return
        refs = tuple(out.resident_ref for out in inbox)
        await self._publisher.publish(
            NOTIFICATIONS_DELIVERED,
            NotificationsBatchDeliveredV1(
                source_event=broadcast_id, resident_refs=refs, delivered_at=self._clock()
            ),
            key=broadcast_id,
            event_id=derived_event_id("delivered", broadcast_id, refs[0], refs[-1]),
        )
        for out in inbox:
            self._live.wake(out.resident_ref)

    async def _to_others(self, others: list[tuple[Notice, Recipient]]) -> list[Steps]:
        """Each on its own channels, ``concurrency`` at a time."""
        limit = asyncio.Semaphore(self._concurrency)

        async def one(notice: Notice, recipient: Recipient) -> Steps:
            async with limit:
                return await self._deliverer.deliver(notice, recipient)

        return await asyncio.gather(*(one(n, r) for n, r in others))

    async def _send_batch(
        self, doc: dict[str, Any], residents: list[dict[str, Any]], walked: int
    ) -> bool:
        """Deliver one batch (``walked`` residents came before it in this walk) and count
        the residents no earlier walk counted."""
        batch = self._sort(doc, residents, walked)
        counts, fresh = batch.counts, batch.fresh
        await self._to_inboxes(doc["_id"], batch.inbox)
        counts["sent.inbox"] += sum(out.resident_ref in fresh for out in batch.inbox)
        outcomes = await self._to_others(batch.others)
        for (notice, _), steps in zip(batch.others, outcomes, strict=True):
            if notice.resident_ref in fresh:
                counts.update(step_counts(steps))
        counts["recipients"] += len(fresh)
        now = self._clock()
        # a walk again from the start must not lower what an earlier one reached
        reached = max(walked + len(residents), int(doc.get("walked") or 0))
        return await self._store.advance_broadcast(
            doc["_id"], self.owner, reached, dict(counts), now + self._lease
        )


@dataclass
class Batch:
    """A batch of residents sorted for sending, and what it adds to the progress counts."""

    inbox: list[AddressedMessage] = field(default_factory=list)
    others: list[tuple[Notice, Recipient]] = field(default_factory=list)
    fresh: set[str] = field(default_factory=set)  # residents no earlier walk counted
    counts: Counter[str] = field(default_factory=Counter)


def _walked_before(doc: dict[str, Any]) -> Callable[[int, str], bool]:
    """Whether an earlier walk of this broadcast already counted the resident at a position:
    the first ``walked`` of the natural order, or (a broadcast begun by an earlier version,
    which walked in id order) those up to its id cursor."""
    walked = doc.get("walked")
    if walked is not None:
        return lambda index, _ref: index < walked
    cursor = doc.get("cursor")
    return lambda _index, ref: cursor is not None and ref <= cursor
