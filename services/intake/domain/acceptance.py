"""Intake's rules: what a valid report is, and the events it becomes. No I/O here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.intake.domain.attributes import check_attributes, native_field
from services.intake.domain.text import ReportRejected, check_description
from shared.events import IssueReportedV1, ResidentContactV1
from shared.residents import normalise_contact, resident_ref


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
    attributes: dict = field(default_factory=dict)
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    media_url: str | None = None
    description_required: bool = True
    field_of_attribute: Callable[[str], str] | None = None


@dataclass(frozen=True)
class AcceptedReport:
    issue: IssueReportedV1
    contact: ResidentContactV1 | None


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
    prefix = "body." if draft.channel == "api" else ""
    description = check_description(
        draft.description,
        required=draft.description_required,
        field_name=f"{prefix}description",
    )
    answers = check_attributes(category, draft.attributes, draft.field_of_attribute or native_field)
    identity = (
        normalise_contact(draft.contact.phone, draft.contact.email) if draft.contact else None
    )
    if identity is None and not category.anonymous_allowed:
        raise ReportRejected(
            f"{prefix}contact", "required", f"{draft.category} needs a phone number or an email"
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
        attributes=answers,
        address=draft.address,
        lat=draft.lat,
        lon=draft.lon,
        media_url=draft.media_url,
        language=draft.contact.language if draft.contact else None,
    )
    contact = None
    if identity is not None and draft.contact is not None:
        contact = ResidentContactV1.of(ref, draft.contact, now)
    return AcceptedReport(issue=issue, contact=contact)
