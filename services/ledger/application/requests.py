"""What callers ask of the ledger: the inputs of its use cases, strictly validated (unknown
fields refused, integers never coerced, amounts within the documented bound). The HTTP API
takes them as its request bodies; their JSON Schemas are the API's."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.ledger.domain.accounts import ID_PATTERN, SLUG_PATTERN
from services.ledger.domain.approvals import DEFAULT_PARTIES
from services.ledger.domain.funds import CASH
from shared.events.base import INTEGRAL
from shared.events.ledger import MAX_AMOUNT_FEN, Fen, Quantity

ClientId = Annotated[str, Field(pattern=ID_PATTERN, description="Chosen by the client.")]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Approval(Strict):
    parties: list[Slug] = Field(
        default_factory=lambda: list(DEFAULT_PARTIES),
        min_length=1,
        json_schema_extra={"uniqueItems": True},
        description="Distinct parties that decide.",
    )
    required: Annotated[int, Field(strict=True, ge=1), INTEGRAL] | None = Field(
        None, description="How many must approve: at most the parties; default all."
    )


class CampaignIn(Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    goal_fen: Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT_FEN), INTEGRAL] = Field(
        description="Integer fen, 0 to 100,000,000,000."
    )
    starts: date
    ends: date = Field(description="Not before starts.")
    projects: list[Slug] = Field(min_length=1)
    approval: Approval = Field(default_factory=Approval)


class Donor(Strict):
    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=254)
    language: Literal["zh-CN", "en"] = "zh-CN"
    named: bool = Field(False, description="Show the name in the public account.")


def _required_when(field: str, value: str, *required: str) -> dict[str, Any]:
    """JSON Schema: when ``field`` is ``value``, ``required`` are present and not null."""
    return {
        "if": {"properties": {field: {"const": value}}, "required": [field]},
        "then": {
            "required": list(required),
            "properties": {name: {"not": {"type": "null"}, "minLength": 1} for name in required},
        },
    }


class DonationIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={  # the channel's details, as ``_channel_details`` checks them
            "allOf": [
                _required_when("channel", "offline", "receipt_book_no"),
                _required_when("channel", "in-kind", "item", "valuation_method"),
            ]
        },
    )

    donation_id: ClientId
    campaign: Slug
    channel: Literal["online", "offline", "in-kind"]
    amount_fen: Fen = Field(description="Money, or the goods' value, in integer fen.")
    currency: Literal["CNY"] = "CNY"
    received_at: datetime | None = None
    donor: Donor | None = None
    payment_ref: str | None = Field(None, max_length=100)
    receipt_book_no: str | None = Field(None, max_length=64)
    item: Slug | None = None
    quantity: Quantity | None = None
    valuation_method: Literal["invoice", "market-price", "appraisal", "donor-declared"] | None = (
        None
    )

    @field_validator("item")
    @classmethod
    def _not_cash(cls, item: str | None) -> str | None:
        if item == CASH:
            raise ValueError(f"{CASH!r} names cash, not goods")
        return item

    @model_validator(mode="after")
    def _channel_details(self) -> DonationIn:
        if self.channel == "offline" and not self.receipt_book_no:
            raise ValueError("an offline donation needs receipt_book_no")
        if self.channel == "in-kind" and not (self.item and self.valuation_method):
            raise ValueError("an in-kind donation needs item and valuation_method")
        return self


class DisbursementIn(Strict):
    disbursement_id: ClientId
    fund: Slug
    project: Slug
    amount_fen: Fen
    currency: Literal["CNY"] = "CNY"
    payee: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=1000)
    source: str = Field(
        "bank",
        pattern=SLUG_PATTERN,
        description="What is paid out: 'bank' (cash), or an item of goods the fund holds.",
    )


class DecisionIn(Strict):
    """A decision's time is the server's, never the client's."""

    reason: str | None = Field(None, max_length=1000)
    payment_ref: str | None = Field(None, max_length=100)


class ReversalIn(Strict):
    reversal_id: ClientId
    fund: Slug
    original_entry_id: str = Field(min_length=1, max_length=120)
    reason: str = Field(min_length=1, max_length=1000)
