"""The inbox channel: messages stored in the resident's inbox, written in group commits."""

from __future__ import annotations

import asyncio
from typing import Any

from services.notify.channels.sending import AddressedMessage
from services.notify.store import NotifyStore
from shared.events import utcnow


class InboxWriter:
    """Group commit for inbox messages: concurrent ``write`` calls are gathered into one bulk
    insert (ids are idempotency keys, duplicates count as written); each caller returns only
    once its document is stored, or gets the error."""

    def __init__(self, store: NotifyStore, max_batch: int = 500):
        self._store = store
        self._max_batch = max_batch
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, document: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((document, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let the callers of this loop turn queue up
            batch, self._pending = (
                self._pending[: self._max_batch],
                self._pending[self._max_batch :],
            )
            try:
                await self._store.deliver_many_to_inbox([doc for doc, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


class InboxChannel:
    name = "inbox"

    def __init__(self, writer: InboxWriter, on_new: Any = None):
        self._writer = writer
        self._on_new = on_new

    async def send(self, outgoing: AddressedMessage) -> None:
        await self._writer.write({"_id": outgoing.delivery_id, **inbox_document(outgoing)})
        if self._on_new is not None:
            self._on_new(outgoing.resident_ref)


def inbox_document(outgoing: AddressedMessage) -> dict[str, Any]:
    message = outgoing.message
    return {
        "resident_ref": outgoing.resident_ref,
        "issue_id": outgoing.issue_id,
        "kind": message.kind,
        "title": message.title,
        "body": message.body,
        "language": message.language,
        "source_event": outgoing.source_event,
        "urgent": outgoing.urgent,
        "created_at": utcnow(),
        "read": False,
    }
