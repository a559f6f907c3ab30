"""Intake's Kafka consumers: keep the issues read model current from the event stream."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from services.intake.store import IssueStore
from shared.events import Envelope, IssueAssignedV1, IssueReportedV1
from shared.events.base import EventPayload
from shared.events.lifecycle import TRANSITIONS, IssueTransitionV1

_REPORTED_FIELDS = {
    "category",
    "node_id",
    "priority",
    "resident_ref",
    "channel",
    "description",
    "attributes",
    "address",
    "lat",
    "lon",
    "media_url",
}


class ReadModelUpdater:
    def __init__(self, store: IssueStore, compound_of: Callable[[str], str | None]):
        self._store = store
        self._compound_of = compound_of

    def handlers(self) -> Mapping[type[EventPayload], Callable]:
        """Every lifecycle type dispatch publishes, handled alike (status, owner, note)."""
        handlers: dict[type[EventPayload], Callable] = {IssueAssignedV1: self.on_assigned}
        handlers.update(dict.fromkeys(TRANSITIONS, self.on_transition))
        return handlers

    def _fields(self, event: IssueReportedV1) -> tuple[dict, datetime]:
        fields = event.model_dump(include={"issue_id", *_REPORTED_FIELDS}, exclude_none=True)
        fields["reported_at"] = event.reported_at
        fields["compound_id"] = self._compound_of(event.node_id)
        return fields, event.reported_at

    async def on_reported(self, items: list[tuple[Envelope, IssueReportedV1]]) -> list[str]:
        """A fetched batch's reports, recorded with one insert; one outcome each."""
        recorded = await self._store.record_reported_many([self._fields(e) for _, e in items])
        return ["ok" if done else "duplicate" for done in recorded]

    async def record(self, event: IssueReportedV1) -> None:
        """Record a report just published, before its event comes back: the same document
        the consumer writes, so the consumer's insert then finds it and changes nothing (and
        a lifecycle event that came first is filled in, not overwritten)."""
        await self._store.record_reported_many([self._fields(event)])

    async def on_assigned(self, envelope: Envelope, event: IssueAssignedV1) -> str:
        fields = {
            "owner": event.owner.model_dump(),
            "ack_due": event.ack_due,
            "resolve_due": event.resolve_due,
        }
        applied = await self._store.record_transition(
            event.issue_id, event.sequence, "assigned", event.assigned_at, fields
        )
        return "ok" if applied else "stale"

    async def on_transition(self, envelope: Envelope, event: IssueTransitionV1) -> str:
        fields: dict = {}
        if event.owner is not None:
            fields["owner"] = event.owner.model_dump()
        if event.ack_due is not None:
            fields["ack_due"] = event.ack_due
        if event.resolve_due is not None:
            fields["resolve_due"] = event.resolve_due
        if event.public_note:
            fields["status_note"] = event.public_note
        applied = await self._store.record_transition(
            event.issue_id, event.sequence, event.status, event.at, fields
        )
        return "ok" if applied else "stale"
