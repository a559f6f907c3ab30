"""What the deliverer is given: a notice (something to tell one resident, per language), its
recipient (preferences and contact), and what came of it on each channel tried (steps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.notify.domain import Contact, DeliveryOutcome, Preferences


@dataclass(frozen=True)
class Notice:
    """Something to tell one resident: the template kind and what fills it, per language."""

    source_event: str
    kind: str
    resident_ref: str
    context: Callable[[str], dict[str, Any]]
    issue_id: str | None = None
    urgent: bool = False
    language: str | None = None  # the event's hint, for a resident notify does not know yet
    # the languages the notice's text exists in, the fallback first (None: every language)
    languages: tuple[str, ...] | None = None

    def language_for(self, wanted: str) -> str:
        """The language the resident reads it in: their own if the text exists in it."""
        if self.languages and wanted not in self.languages:
            return self.languages[0]
        return wanted


@dataclass(frozen=True)
class Recipient:
    prefs: Preferences
    contact: Contact


def recipient_of(doc: dict[str, Any] | None, language_hint: str | None = None) -> Recipient:
    """A stored resident as preferences and contact (defaults for one never seen, in the
    language the event says the resident used)."""
    doc = doc or {}
    stored = dict(doc.get("prefs") or {})
    stored.setdefault("language", doc.get("language") or language_hint or "zh-CN")
    prefs = Preferences.model_validate(stored)
    contact = Contact(phone=doc.get("phone"), email=doc.get("email"), webhook=prefs.webhook)
    return Recipient(prefs, contact)


Steps = list[tuple[str, str]]  # (channel, outcome) of each channel tried, in order


def outcome_label(steps: Steps) -> str:
    """What came of a delivery, for the metrics: the last channel's outcome, or "deferred"
    when the chosen channel waits for the end of quiet hours (the inbox has it meanwhile)."""
    if any(outcome == DeliveryOutcome.DEFERRED for _, outcome in steps):
        return DeliveryOutcome.DEFERRED
    return steps[-1][1]
