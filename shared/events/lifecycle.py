"""The issue lifecycle after assignment, published by dispatch on ``issues.lifecycle`` (keyed by
issue id, so order holds per issue), and the residents' feedback and the ledger's receipts that
notify and dispatch exchange.

Every transition is its own CloudEvents type sharing one shape: consumers that only need the
status (intake's read model) treat them alike; notify picks the message by type. ``sequence``
is the case's version after the transition, so a read model can ignore anything older than
what it holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from shared.events.base import EventPayload, IssueId, Language, NodeId, ResidentRef
from shared.events.ledger import Fen
from shared.events.payloads import Owner


class IssueTransitionV1(EventPayload):
    """One state change of a case (the base of every lifecycle event type)."""

    event_type: ClassVar[str] = "linli.issues.transition.v1"
    subject_field: ClassVar[str] = "issue_id"

    issue_id: IssueId
    sequence: int = Field(ge=1, description="Version of the case after this transition.")
    status: str = Field(description="Status of the case after the transition.")
    category: str
    node_id: NodeId
    owner: Owner | None = Field(None, description="Who holds the case now.")
    departments: tuple[str, ...] = Field((), description="Departments summoned to the case.")
    actor: str | None = Field(None, description="Office node or department that acted.")
    reason: str | None = Field(None, description="Reason of a rejection, transfer, reopening.")
    public_note: str | None = Field(None, max_length=2000, description="Shown to the resident.")
    ack_due: datetime | None = None
    resolve_due: datetime | None = None
    resident_ref: ResidentRef | None = None
    language: Language | None = Field(None, description="The reporter's language.")
    at: datetime


def _transition(name: str, doc: str) -> type[IssueTransitionV1]:
    return type(
        "Issue" + "".join(part.title() for part in name.split("-")) + "V1",
        (IssueTransitionV1,),
        {"__doc__": doc, "__module__": __name__, "event_type": f"linli.issues.{name}.v1"},
    )


IssueCalledUpV1 = _transition("called-up", "The community office called the street (社区呼叫).")
IssueWhistledV1 = _transition("whistled", "The street summoned departments (街道吹哨).")
IssueAcknowledgedV1 = _transition("acknowledged", "A department reported for duty (部门报到).")
IssueProgressedV1 = _transition("progressed", "Work is under way; a progress note was added.")
IssueResolvedV1 = _transition("resolved", "The owner reports the problem solved.")
IssueReturnVisitV1 = _transition("return-visit", "The resident is asked for a rating (回访).")
IssueClosedV1 = _transition("closed", "The case is closed (rated, or unanswered in time).")
IssueReopenedV1 = _transition("reopened", "An unsatisfied rating reopened the case (重办).")
IssueRejectedV1 = _transition("rejected", "A department sent the case back (退单).")
IssueTransferredV1 = _transition("transferred", "The case was handed to another owner.")
IssueExtensionRequestedV1 = _transition("extension-requested", "More time was asked for.")
IssueExtensionDecidedV1 = _transition("extension-decided", "An extension was approved/refused.")
IssueMergedV1 = _transition("merged", "The case was merged into another as a duplicate.")
IssueRemindedV1 = _transition("reminded", "A reminder or formal reminder (催办) was sent.")
IssueEscalatedV1 = _transition("escalated", "A missed deadline moved the case one level up.")
IssueReprimandedV1 = _transition("reprimanded", "Long overdue: flagged at district level (通报).")

TRANSITIONS: tuple[type[IssueTransitionV1], ...] = (
    IssueCalledUpV1,
    IssueWhistledV1,
    IssueAcknowledgedV1,
    IssueProgressedV1,
    IssueResolvedV1,
    IssueReturnVisitV1,
    IssueClosedV1,
    IssueReopenedV1,
    IssueRejectedV1,
    IssueTransferredV1,
    IssueExtensionRequestedV1,
    IssueExtensionDecidedV1,
    IssueMergedV1,
    IssueRemindedV1,
    IssueEscalatedV1,
    IssueReprimandedV1,
)


class IssueRatedV1(EventPayload):
    """A resident's answer to the return visit, from notify's signed link (topic
    ``issues.feedback``, keyed by issue id); dispatch closes or reopens the case."""

    event_type: ClassVar[str] = "linli.issues.rated.v1"
    subject_field: ClassVar[str] = "issue_id"

    issue_id: IssueId
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=1000)
    resident_ref: ResidentRef
    rated_at: datetime


class ReceiptIssuedV1(EventPayload):
    """The ledger issued a receipt for a donation (topic ``ledger.receipts``); notify thanks
    the donor when ``donor_ref`` is set (the contact travels on ``residents.contacts``)."""

    event_type: ClassVar[str] = "linli.ledger.receipt.v1"
    subject_field: ClassVar[str] = "receipt_no"

    receipt_no: str
    donation_id: str
    campaign: str
    campaign_name: str | None = Field(
        None, max_length=200, description="The campaign's name; absent while only its id is known."
    )
    channel: str
    amount_fen: Fen
    currency: str = "CNY"
    donor_ref: ResidentRef | None = None
    issued_at: datetime
