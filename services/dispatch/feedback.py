"""Residents' ratings from the return visit (``issues.feedback``, from notify): a rating at or
below the policy's threshold reopens the case with the same owner (重办), above it closes it."""

from __future__ import annotations

from services.dispatch.application import CaseNotFound, Dispatcher
from services.dispatch.domain.machine import Rate, Refused
from shared.events import Envelope
from shared.events.lifecycle import IssueRatedV1
from shared.logging import get_logger

log = get_logger("linli.dispatch.feedback")


class Feedback:
    def __init__(self, dispatcher: Dispatcher):
        self._dispatcher = dispatcher

    async def on_rated(self, envelope: Envelope, event: IssueRatedV1) -> str:
        try:
            applied = await self._dispatcher.apply(
                event.issue_id, Rate(event.rating, event.comment), action_id=f"rating:{envelope.id}"
            )
        except (Refused, CaseNotFound) as exc:
            log.warning("rating_refused", issue=event.issue_id, error=str(exc))
            return "refused"
        return "duplicate" if applied.duplicate else "ok"
