"""Intake's Kafka consumers: keep the issues read model current from the event stream."""

from __future__ import annotations

from services.intake.store import IssueStore
from shared.events import Envelope, IssueAssignedV1, IssueReportedV1


class ReadModelUpdater:
    def __init__(self, store: IssueStore):
        self._store = store

    async def on_reported(self, envelope: Envelope, event: IssueReportedV1) -> str:
        fields = event.model_dump(
            include={"issue_id", "category", "node_id", "priority", "resident_ref", "channel"}
        )
        fields["reported_at"] = event.reported_at
        return await self._store.processed.once(
            envelope.id, lambda: self._store.record_reported(fields, event.reported_at)
        )

    async def on_assigned(self, envelope: Envelope, event: IssueAssignedV1) -> str:
        fields = {
            "owner": event.owner.model_dump(),
            "ack_due": event.ack_due,
            "resolve_due": event.resolve_due,
        }
        return await self._store.processed.once(
            envelope.id,
            lambda: self._store.record_status(
                event.issue_id, "assigned", event.assigned_at, fields
            ),
        )
