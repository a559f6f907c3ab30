"""Consult's notices: each names one household's residents; every one of them hears it once
(the delivery id is the notice's event id, the resident and the channel), in the household's
language. A notice carries the poll or resolution and nothing about anyone's ballot."""

from __future__ import annotations

from typing import Any

from services.notify.delivery import Deliverer
from services.notify.notices import Notice
from services.notify.rendering import local_time
from shared.events import Envelope
from shared.events.consult import ConsultNoticeV1


class ConsultNotices:
    def __init__(self, deliverer: Deliverer):
        self._deliverer = deliverer

    async def on_notice(self, envelope: Envelope, event: ConsultNoticeV1) -> str:
        def context(_lang: str) -> dict[str, Any]:
            return {
                "subject_id": event.subject_id,
                "title": event.title,
                "place": event.place,
                "closes_at": local_time(event.closes_at) if event.closes_at else "",
                "summary": event.summary,
            }

        outcome = "skipped"
        for ref in event.resident_refs:
            notice = Notice(
                envelope.id, f"consult.{event.kind}", ref, context, language=event.language
            )
            outcome = await self._deliverer.notify(notice)
        return outcome
