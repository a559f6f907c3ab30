"""Keeping the issues read model current from the event stream: reports as they are filed
(a fetched batch at once), assignments and every lifecycle transition (ordered per issue by
``sequence``; anything older than what is held is stale)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.intake.domain.buckets import open_keys
from services.intake.domain.status import CaseStatus
from services.intake.store import IssueStore
from shared.events import IssueAssignedV1, IssueReportedV1
from shared.events.lifecycle import IssueTransitionV1
from shared.reference import Tree

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


class ReadModel:
    def __init__(self, store: IssueStore, tree: Tree):
        self._store = store
        self._tree = tree

    def _fields(self, event: IssueReportedV1) -> tuple[dict[str, Any], datetime]:
        """The report's document, with its compound and the open buckets it belongs to."""
        fields = event.model_dump(include={"issue_id", *_REPORTED_FIELDS}, exclude_none=True)
        fields["reported_at"] = event.reported_at
        node = self._tree.get(event.node_id)
        compound = self._tree.ancestor_at(node.id, "compound") if node is not None else None
        fields["compound_id"] = compound.id if compound is not None else None
        point = None
        if event.lat is not None and event.lon is not None:
            point = (event.lat, event.lon)
        elif node is not None and node.location is not None:
            point = (node.location.lat, node.location.lon)
        fields["open_keys"] = open_keys(event.category, fields["compound_id"], point)
        return fields, event.reported_at

    async def reported(self, events: list[IssueReportedV1]) -> list[bool]:
        """Record reports with one insert; False for each one recorded before."""
        return await self._store.record_reported_many([self._fields(e) for e in events])

    async def record(self, event: IssueReportedV1) -> None:
        """Record a report just published, before its event comes back: the same document
        the consumer writes, so the consumer's insert then finds it and changes nothing (and
        a lifecycle event that came first is filled in, not overwritten)."""
        await self._store.record_reported_many([self._fields(event)])

    async def assigned(self, event: IssueAssignedV1) -> bool:
        """False when the read model already holds this version or a later one."""
        fields = {
            "owner": event.owner.model_dump(),
            "ack_due": event.ack_due,
            "resolve_due": event.resolve_due,
        }
        return await self._store.record_transition(
            event.issue_id, event.sequence, CaseStatus.ASSIGNED.value, event.assigned_at, fields
        )

    async def transition(self, event: IssueTransitionV1) -> bool:
        """Status, owner, deadlines and the public note; False when stale."""
        fields: dict[str, Any] = {}
        if event.owner is not None:
            fields["owner"] = event.owner.model_dump()
        if event.ack_due is not None:
            fields["ack_due"] = event.ack_due
        if event.resolve_due is not None:
            fields["resolve_due"] = event.resolve_due
        if event.public_note:
            fields["status_note"] = event.public_note
        return await self._store.record_transition(
            event.issue_id, event.sequence, event.status, event.at, fields
        )
