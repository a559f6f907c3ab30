"""Intake's rules: what a valid report is, and the events it becomes. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from shared.events import IssueReportedV1, ResidentContactV1
from shared.residents import normalise_contact, resident_ref

MAX_DESCRIPTION = 4000
_HTML = re.compile(r"<\s*[a-zA-Z/!?]|&[a-zA-Z]+;|&#\d+;")


class ReportRejected(ValueError):
    """A report that cannot be accepted, with the field at fault."""

    def __init__(self, field: str, code: str, message: str):
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


@dataclass(frozen=True)
class Contact:
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    language: str = "zh-CN"


@dataclass(frozen=True)
class ReportDraft:
    category: str
    node_id: str
    description: str
    contact: Contact | None
    channel: str = "api"


@dataclass(frozen=True)
class AcceptedReport:
    issue: IssueReportedV1
    contact: ResidentContactV1 | None


def check_description(text: str) -> str:
    """Trimmed description, or ``ReportRejected``: not empty, not too long, no markup."""
    text = text.strip()
    if not text:
        raise ReportRejected("body.description", "empty", "describe the problem")
    if len(text) > MAX_DESCRIPTION:
        raise ReportRejected(
            "body.description", "too_long", f"at most {MAX_DESCRIPTION} characters"
        )
    if _HTML.search(text):
        raise ReportRejected("body.description", "markup", "HTML or entities are not accepted")
    return text


def accept_report(
    draft: ReportDraft,
    *,
    categories: dict,
    node_exists,
    issue_id: str,
    now: datetime,
    secret: str,
) -> AcceptedReport:
    """Validate a draft against the catalogue and the tree and turn it into events."""
    category = categories.get(draft.category)
    if category is None:
        raise ReportRejected("body.category", "unknown", f"no category {draft.category!r}")
    if not node_exists(draft.node_id):
        raise ReportRejected("body.node_id", "unknown", f"no place {draft.node_id!r} in the tree")
    description = check_description(draft.description)
    identity = (
        normalise_contact(draft.contact.phone, draft.contact.email) if draft.contact else None
    )
    if identity is None and not category.anonymous_allowed:
        raise ReportRejected(
            "body.contact", "required", f"{draft.category} needs a phone number or an email"
        )
    ref = resident_ref(secret, identity)
    issue = IssueReportedV1(
        issue_id=issue_id,
        category=category.code,
        node_id=draft.node_id,
        description=description,
        priority=category.default_priority,
        resident_ref=ref,
        channel=draft.channel,
        reported_at=now,
    )
    contact = None
    if identity is not None and draft.contact is not None:
        contact = ResidentContactV1(
            resident_ref=ref,
            name=draft.contact.name,
            phone=draft.contact.phone,
            email=draft.contact.email,
            language=draft.contact.language,
            updated_at=now,
        )
    return AcceptedReport(issue=issue, contact=contact)
