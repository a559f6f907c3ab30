"""The ledger's commands, on ``ledger.commands`` keyed by fund (campaign id), so that one
consumer at a time writes each fund: requests to spend, the parties' decisions, reversals.
Donations from front desks travel there too, as ``DonationReceivedV1``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from shared.events.base import INTEGRAL, EventPayload

ClientId = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]{0,99}$")

MAX_AMOUNT_FEN = 100_000_000_000  # 1,000,000,000.00 yuan: one donation, goal or spending
MAX_QUANTITY = 10_000_000  # pieces of goods in one donation


Fen = Annotated[
    int,
    Field(
        strict=True,
        gt=0,
        le=MAX_AMOUNT_FEN,
        description="Integer fen (0.01 yuan), 1 to 100,000,000,000 (1 billion yuan); a JSON "
        "integer (100 or 100.0): strings, booleans and fractions are refused.",
    ),
    INTEGRAL,
]
Quantity = Annotated[
    int,
    Field(strict=True, gt=0, le=MAX_QUANTITY, description="Pieces, 1 to 10,000,000."),
    INTEGRAL,
]


class DisbursementRequestedV1(EventPayload):
    """Someone asks to spend money of a fund on one of its projects; the amount is held."""

    event_type: ClassVar[str] = "linli.ledger.disbursement-requested.v1"
    subject_field: ClassVar[str] = "disbursement_id"

    disbursement_id: str = ClientId
    fund: str = Field(min_length=1, max_length=64)
    project: str = Field(min_length=1, max_length=64)
    amount_fen: Fen
    currency: Literal["CNY"] = "CNY"
    payee: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=1000)
    source: str = Field("bank", description="'bank', or an in-kind item handed over.")
    requested_by: str = Field(description="Key id of the clerk who asked.")
    requested_at: datetime


class DisbursementDecidedV1(EventPayload):
    """A party approves or rejects, a clerk voids, or the treasurer posts the payment."""

    event_type: ClassVar[str] = "linli.ledger.disbursement-decided.v1"
    subject_field: ClassVar[str] = "disbursement_id"

    disbursement_id: str = ClientId
    fund: str = Field(min_length=1, max_length=64)
    action: Literal["approve", "reject", "void", "post"]
    actor: str = Field(description="Key id of who acted.")
    party: str | None = Field(None, description="The party an approver speaks for.")
    reason: str | None = Field(None, max_length=1000)
    payment_ref: str | None = Field(None, max_length=100)
    at: datetime


class ReversalRequestedV1(EventPayload):
    """Correct a mistake: post the entry that cancels ``original_entry_id``."""

    event_type: ClassVar[str] = "linli.ledger.reversal-requested.v1"
    subject_field: ClassVar[str] = "reversal_id"

    reversal_id: str = ClientId
    fund: str = Field(min_length=1, max_length=64)
    original_entry_id: str = Field(min_length=1, max_length=120)
    reason: str = Field(min_length=1, max_length=1000)
    requested_by: str
    at: datetime


COMMANDS: tuple[type[EventPayload], ...] = (
    DisbursementRequestedV1,
    DisbursementDecidedV1,
    ReversalRequestedV1,
)
