"""Notify's use cases: remember contacts, turn lifecycle events into inbox messages."""

from __future__ import annotations

from services.notify.domain import assigned_message
from services.notify.store import NotifyStore
from shared.events import Envelope, IssueAssignedV1, ResidentContactV1, utcnow


class Notifier:
    def __init__(self, store: NotifyStore):
        self._store = store

    async def on_contact(self, _: Envelope, event: ResidentContactV1) -> str:
        contact = event.model_dump(include={"name", "phone", "email", "language"})
        saved = await self._store.save_contact(event.resident_ref, contact, event.updated_at)
        return "ok" if saved else "stale"

    async def on_assigned(self, envelope: Envelope, event: IssueAssignedV1) -> str:
        ref = event.resident_ref
        if ref is None:
            return "skipped"
        language = await self._store.language_of(ref)
        owner = event.owner
        message = assigned_message(
            issue_id=event.issue_id,
            owner_name=(owner.name_en if language == "en" else owner.name) or owner.code,
            resolve_due=event.resolve_due,
            language=language,
        )
        inserted = await self._store.deliver_to_inbox(
            f"{envelope.id}:{ref}:inbox",
            {
                "resident_ref": ref,
                "issue_id": event.issue_id,
                "kind": message.kind,
                "title": message.title,
                "body": message.body,
                "language": language,
                "source_event": envelope.id,
                "created_at": utcnow(),
                "read": False,
            },
        )
        return "ok" if inserted else "duplicate"
