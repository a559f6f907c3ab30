"""Intake's Kafka consumers: the issues read model follows ``issues.reported`` (in fetched
batches) and ``issues.lifecycle``; each handler hands its events to the application's
``ReadModel`` and says how it went."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.intake.application.read_model import ReadModel
from shared.events import Envelope, IssueAssignedV1, IssueReportedV1
from shared.events.base import EventPayload
from shared.events.lifecycle import TRANSITIONS, IssueTransitionV1
from shared.service import ServiceParts
from shared.topics import ISSUES_LIFECYCLE, ISSUES_REPORTED


def _outcome(applied: bool) -> str:
    return "ok" if applied else "stale"


class ReadModelConsumers:
    def __init__(self, read_model: ReadModel):
        self._read_model = read_model

    async def on_reported(self, items: list[tuple[Envelope, IssueReportedV1]]) -> list[str]:
        """A fetched batch's reports, recorded with one insert; one outcome each."""
        recorded = await self._read_model.reported([event for _, event in items])
        return ["ok" if done else "duplicate" for done in recorded]

    async def on_assigned(self, envelope: Envelope, event: IssueAssignedV1) -> str:
        return _outcome(await self._read_model.assigned(event))

    async def on_transition(self, envelope: Envelope, event: IssueTransitionV1) -> str:
        return _outcome(await self._read_model.transition(event))

    def lifecycle_handlers(self) -> Mapping[type[EventPayload], Callable]:
        """Every lifecycle type dispatch publishes, handled alike (status, owner, note)."""
        handlers: dict[type[EventPayload], Callable] = {IssueAssignedV1: self.on_assigned}
        handlers.update(dict.fromkeys(TRANSITIONS, self.on_transition))
        return handlers

    def subscribe(self, parts: ServiceParts) -> None:
        parts.consume(ISSUES_REPORTED, {}, batch_handlers={IssueReportedV1: self.on_reported})
        parts.consume(ISSUES_LIFECYCLE, self.lifecycle_handlers())
