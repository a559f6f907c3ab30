"""The inbox channel: messages stored in the resident's inbox, written in group commits."""

from __future__ import annotations

from typing import Any

from services.notify.channels.sending import AddressedMessage
from services.notify.store import NotifyStore
from shared.events import utcnow
from shared.group_commit import GroupCommit


class InboxWriter:
    """Group commit for inbox messages: concurrent ``write`` calls are gathered into one bulk
    insert (ids are idempotency keys, duplicates count as written); each caller returns only
    once its document is stored, or gets the error."""

    def __init__(self, store: NotifyStore, max_batch: int = 500):
        self._store = store
        self._commit: GroupCommit[dict[str, Any], None] = GroupCommit(
            self._insert, max_batch, gather_turn=True
        )

    async def write(self, document: dict[str, Any]) -> None:
        await self._commit.submit(document)

    async def _insert(self, documents: list[dict[str, Any]]) -> list[None]:
        await self._store.deliver_many_to_inbox(documents)
        return [None] * len(documents)


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
