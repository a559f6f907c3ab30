"""Versioned event payloads: the contracts between services and with departments.

Each model names its CloudEvents ``type`` (which carries the major version). A compatible
change adds an optional field; an incompatible one is a new class with the next version, and
both are published while consumers move over. JSON Schemas are exported to ``docs/schemas``.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.events.base import EventPayload, IssueId, Language, NodeId, Priority, ResidentRef
from shared.events.ledger import Fen, Quantity


class IssueReportedV1(EventPayload):
    """A resident reported a problem or asked for a service (published by intake)."""

    event_type: ClassVar[str] = "linli.issues.reported.v1"
    subject_field: ClassVar[str] = "issue_id"

    issue_id: IssueId
    category: str = Field(min_length=1, max_length=64)
    node_id: NodeId
    description: str = Field(max_length=4000)
    priority: Priority = "normal"
    resident_ref: ResidentRef | None = Field(None, description="Absent for anonymous reports.")
    channel: Literal["api", "open311", "front-desk"] = "api"
    reported_at: datetime
    attributes: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Answers to the category's extra questions."
    )
    address: str | None = Field(None, max_length=500, description="Address as given.")
    lat: float | None = Field(None, ge=-90, le=90, description="WGS-84 latitude as given.")
    lon: float | None = Field(None, ge=-180, le=180, description="WGS-84 longitude as given.")
    media_url: str | None = Field(None, max_length=2000, description="Photo of the problem.")
    language: Language | None = Field(
        None, description="The reporter's language, for messages sent before notify knows it."
    )


class Owner(BaseModel):
    """Who holds a case: an office at a tree node, or a functional department."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["office", "department"]
    code: str = Field(description="Node id for an office, department code for a department.")
    name: str = Field("", description="Name in Chinese (zh-CN).")
    name_en: str = Field("", description="Name in English.")


class IssueAssignedV1(EventPayload):
    """Dispatch gave the case its first owner (首接负责) and its deadlines."""

    event_type: ClassVar[str] = "linli.issues.assigned.v1"
    subject_field: ClassVar[str] = "issue_id"

    issue_id: IssueId
    sequence: int = Field(1, ge=1, description="Version of the case after this transition.")
    category: str
    node_id: NodeId
    owner: Owner
    ack_due: datetime
    resolve_due: datetime
    resident_ref: ResidentRef | None = None
    language: Language | None = Field(None, description="The reporter's language.")
    assigned_at: datetime


class DepartmentTaskV1(EventPayload):
    """A duty sent to one department's topic ``dept.<code>.tasks``; no contact details."""

    event_type: ClassVar[str] = "linli.dept.task.v1"
    subject_field: ClassVar[str] = "task_id"

    task_id: str
    issue_id: IssueId
    department: str
    action: Literal["new", "reminder", "escalation", "closure", "extension"] = Field(
        "new",
        description="new task; reminder or 催办; escalation or 通报; closure; extension: the "
        "supervisor's decision on an extension request (note: approved/refused; resolve_due).",
    )
    category: str
    node_id: NodeId
    description: str
    priority: Priority
    ack_due: datetime
    resolve_due: datetime
    resident_ref: ResidentRef | None = None
    sent_at: datetime
    note: str | None = Field(None, max_length=1000, description="Why: reminder, escalation.")


class ContactDetails(Protocol):
    """What a form or a request gives as a resident's contact."""

    name: str | None
    phone: str | None
    email: str | None
    language: Literal["zh-CN", "en"]


class ResidentContactV1(EventPayload):
    """A resident's contact details, keyed by reference on a compacted topic read only by
    notify. A record with all fields empty erases the contact (a tombstone follows)."""

    event_type: ClassVar[str] = "linli.residents.contact.v1"
    subject_field: ClassVar[str] = "resident_ref"

    resident_ref: ResidentRef
    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=254)
    language: Literal["zh-CN", "en"] = "zh-CN"
    node_id: NodeId | None = Field(
        None, description="Tree node the resident lives at, for area broadcasts."
    )
    updated_at: datetime

    @classmethod
    def of(cls, ref: str, contact: ContactDetails, at: datetime) -> ResidentContactV1:
        """The contact a resident (a reporter, a donor) gave, published for notify alone."""
        return cls(
            resident_ref=ref,
            name=contact.name,
            phone=contact.phone,
            email=contact.email,
            language=contact.language,
            updated_at=at,
        )


class DonationReceivedV1(EventPayload):
    """Money or goods came in for the charity fund (payment callback or front desk)."""

    event_type: ClassVar[str] = "linli.ledger.donation.v1"
    subject_field: ClassVar[str] = "donation_id"

    donation_id: str = Field(min_length=1, max_length=100)
    campaign: str = Field(min_length=1, max_length=64)
    channel: Literal["online", "offline", "in-kind"]
    amount_fen: Fen
    currency: Literal["CNY"] = "CNY"
    donor_name: str | None = Field(None, description="Only when the donor chose to be named.")
    received_at: datetime
    donor_ref: ResidentRef | None = Field(
        None, description="Pseudonymous donor, for the thank-you; contacts travel elsewhere."
    )
    payment_ref: str | None = Field(None, max_length=100, description="Online: payment id.")
    receipt_book_no: str | None = Field(
        None, max_length=64, description="Offline: number of the paper receipt book and page."
    )
    item: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="In-kind: goods (account slug)."
    )
    quantity: Quantity | None = Field(None, description="In-kind: how many.")
    valuation_method: Literal["invoice", "market-price", "appraisal", "donor-declared"] | None = (
        Field(None, description="In-kind: how the goods were valued.")
    )
