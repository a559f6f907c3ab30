"""Ledger's HTTP adapter for the front desks, treasurers and approvers. Writes become commands
on ``ledger.commands`` keyed by fund (the fund's single writer applies them); the request waits
for the outcome and answers 201 (done), 200 (``exists``: same id, same content), 409 (refused:
a conflicting replay names the differing field; an overspend says what it would leave), or 202
with a command id to poll when the writer is slow."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.ledger.access import authorise as check_key
from services.ledger.campaigns import Campaigns
from services.ledger.domain.accounts import ID_PATTERN, SLUG_PATTERN
from services.ledger.domain.approvals import DEFAULT_PARTIES, ApprovalRule
from services.ledger.domain.funds import CASH
from services.ledger.domain.idempotency import ConflictingReplay
from services.ledger.spending import public_disbursement
from services.ledger.store import LedgerStore
from shared.events import DonationReceivedV1, EventPayload, ResidentContactV1, utcnow
from shared.events.ledger import (
    INTEGRAL,
    MAX_AMOUNT_FEN,
    DisbursementDecidedV1,
    DisbursementRequestedV1,
    Fen,
    Quantity,
    ReversalRequestedV1,
)
from shared.http.errors import ApiError, ErrorMap
from shared.kafka.publisher import EventPublisher
from shared.residents import normalise_contact, resident_ref
from shared.topics import LEDGER_COMMANDS, RESIDENTS_CONTACTS

Auth = Annotated[str | None, Header(description="Bearer <ledger key>")]
ClientId = Annotated[str, Field(pattern=ID_PATTERN, description="Chosen by the client.")]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
# a refusal by the fund's writer: the state forbids it (409), the key's party may not (403), or
# what it names does not exist (404); only malformed input is a 422
REFUSAL_STATUS = {
    "conflict": 409,
    "overspend": 409,
    "already_reversed": 409,
    "not_reversible": 409,
    "not_approved": 409,
    "wrong_status": 409,
    "not_a_party": 403,
    "not_found": 404,
    "unknown_campaign": 404,
    "unknown_fund": 404,
}


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


def refusals(errors: ErrorMap) -> None:
    """How the ledger's domain refusals answer over HTTP."""
    errors.refuse(
        ConflictingReplay, lambda exc: ApiError(409, "conflict", str(exc), f"body.{exc.field}")
    )


def build_router(
    store: LedgerStore,
    campaigns: Campaigns,
    publisher: EventPublisher,
    *,
    resident_secret: str,
    wait_s: float,
    staff_secret: str | None = None,
) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["ledger"])
    authorise = partial(check_key, staff_secret=staff_secret)  # keys, or web staff tokens
    errors: dict[int | str, dict[str, Any]] = {
        200: {"description": "Exists: the same id with the same content was done before"},
        202: {"description": "Accepted; the writer is slow: poll the command's outcome"},
        401: {"description": "No or unknown key"},
        403: {"description": "The key may not do this"},
        404: {"description": "What it names does not exist (the field is named)"},
        409: {"description": "Refused: conflicting replay, overspend, or not in that state"},
        422: {"description": "A field is missing or malformed"},
        503: {"description": "Kafka or the database is down; nothing was accepted"},
    }

    async def command(fund: str, payload: EventPayload) -> JSONResponse:
        command_id = str(uuid.uuid4())
        await publisher.publish(LEDGER_COMMANDS, payload, key=fund, event_id=command_id)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            outcome = await store.outcome(command_id)
            if outcome:
                return outcome_response(outcome)
            await asyncio.sleep(0.05)
        return JSONResponse(
            {"status": "accepted", "command_id": command_id},
            status_code=202,
            headers={"Location": f"/api/v1/commands/{command_id}"},
        )

    @router.post("/campaigns", status_code=201, responses=errors)
    async def create_campaign(body: CampaignIn, authorization: Auth = None) -> JSONResponse:
        """Open a campaign: a restricted fund with goal, period, projects and approval rule."""
        await authorise(store, authorization, role="clerk", fund=body.id)
        try:
            rule = ApprovalRule(
                tuple(body.approval.parties), body.approval.required or len(body.approval.parties)
            )
        except ValueError as exc:
            raise ApiError(422, "invalid", str(exc), "body.approval") from exc
        if body.ends < body.starts:
            raise ApiError(422, "invalid", "ends before it starts", "body.ends")
        created, campaign = await campaigns.create(
            body.id,
            name=body.name,
            goal_fen=body.goal_fen,
            starts=body.starts,
            ends=body.ends,
            projects=body.projects,
            rule=rule,
        )
        return JSONResponse(
            {"status": "created" if created else "exists", "campaign": campaign},
            status_code=201 if created else 200,
        )

    @router.post("/donations", status_code=201, responses=errors)
    async def donate(body: DonationIn, authorization: Auth = None) -> JSONResponse:
        """A front desk records a donation (cash or bank with a receipt book number, or goods
        with their valuation). The donor's contact, if given, goes only to notify."""
        await authorise(store, authorization, role="clerk", fund=body.campaign)
        if not await campaigns.exists(body.campaign):
            raise ApiError(404, "not_found", f"no campaign {body.campaign}", "body.campaign")
        donor_ref = None
        donor = body.donor
        if donor and (identity := normalise_contact(donor.phone, donor.email)):
            donor_ref = resident_ref(resident_secret, identity)
            contact = ResidentContactV1(
                resident_ref=donor_ref,
                name=donor.name,
                phone=donor.phone,
                email=donor.email,
                language=donor.language,
                updated_at=utcnow(),
            )
            await publisher.publish(RESIDENTS_CONTACTS, contact, key=donor_ref)
        event = DonationReceivedV1(
            donation_id=body.donation_id,
            campaign=body.campaign,
            channel=body.channel,
            amount_fen=body.amount_fen,
            currency=body.currency,
            donor_name=donor.name if donor and donor.named else None,
            received_at=body.received_at or utcnow(),
            donor_ref=donor_ref,
            payment_ref=body.payment_ref,
            receipt_book_no=body.receipt_book_no,
            item=body.item,
            quantity=body.quantity,
            valuation_method=body.valuation_method,
        )
        return await command(body.campaign, event)

    @router.post("/disbursements", status_code=201, responses=errors)
    async def request_disbursement(
        body: DisbursementIn, authorization: Auth = None
    ) -> JSONResponse:
        """Ask to spend; the amount is held until the request is posted, rejected or voided."""
        holder = await authorise(store, authorization, role="clerk", fund=body.fund)
        return await command(
            body.fund,
            DisbursementRequestedV1(
                **body.model_dump(), requested_by=holder["_id"], requested_at=utcnow()
            ),
        )

    @router.get("/disbursements/{disbursement_id}", responses=errors)
    async def get_disbursement(
        disbursement_id: Annotated[str, Path(pattern=ID_PATTERN)], authorization: Auth = None
    ) -> dict[str, Any]:
        doc = await store.disbursement(disbursement_id)
        if doc is None:
            raise ApiError(404, "not_found", f"no disbursement {disbursement_id}")
        try:
            await authorise(store, authorization, role="clerk", fund=doc["fund"])
        except ApiError:
            await authorise(store, authorization, role="approver", fund=doc["fund"])
        return public_disbursement(doc)

    def decision(action: Literal["approve", "reject", "void", "post"], role: str):
        async def decide(
            disbursement_id: Annotated[str, Path(pattern=ID_PATTERN)],
            body: DecisionIn | None = None,
            authorization: Auth = None,
        ) -> JSONResponse:
            doc = await store.disbursement(disbursement_id)
            if doc is None:
                raise ApiError(404, "not_found", f"no disbursement {disbursement_id}")
            holder = await authorise(store, authorization, role=role, fund=doc["fund"])
            body = body or DecisionIn()
            return await command(
                doc["fund"],
                DisbursementDecidedV1(
                    disbursement_id=disbursement_id,
                    fund=doc["fund"],
                    action=action,
                    actor=holder["_id"],
                    party=holder.get("party"),
                    reason=body.reason,
                    payment_ref=body.payment_ref,
                    at=utcnow(),
                ),
            )

        decide.__name__ = f"{action}_disbursement"
        decide.__doc__ = {
            "approve": "An approver's party approves; N of M approvals make it approved.",
            "reject": "An approver's party rejects it; the hold is released.",
            "void": "A clerk withdraws it; the hold is released.",
            "post": "The treasurer records the payment of an approved disbursement.",
        }[action]
        return decide

    for action, role in (
        ("approve", "approver"),
        ("reject", "approver"),
        ("void", "clerk"),
        ("post", "clerk"),
    ):
        router.post(
            f"/disbursements/{{disbursement_id}}/{action}", status_code=201, responses=errors
        )(decision(action, role))

    @router.post("/reversals", status_code=201, responses=errors)
    async def reverse(body: ReversalIn, authorization: Auth = None) -> JSONResponse:
        """Correct a mistake with the entry that cancels the original (which stays)."""
        holder = await authorise(store, authorization, role="clerk", fund=body.fund)
        return await command(
            body.fund,
            ReversalRequestedV1(**body.model_dump(), requested_by=holder["_id"], at=utcnow()),
        )

    @router.get("/commands/{command_id}", responses={404: {"description": "Not done yet"}})
    async def command_outcome(command_id: Annotated[str, Path(max_length=64)]) -> JSONResponse:
        """The outcome of a command answered 202."""
        outcome = await store.outcome(command_id)
        if outcome is None:
            raise ApiError(404, "not_found", "no outcome yet; retry later")
        return outcome_response(outcome)

    return router


def outcome_response(outcome: dict[str, Any]) -> JSONResponse:
    body = jsonable_encoder({k: v for k, v in outcome.items() if k not in ("_id", "at")})
    if body.get("status") == "refused":
        status = REFUSAL_STATUS.get(body.get("code", ""), 422)
        error = {
            "field": body.get("field"),
            "code": body.get("code"),
            "message": body.get("message"),
        }
        if "would_leave_fen" in body:
            error["would_leave_fen"] = body["would_leave_fen"]
        return JSONResponse({"errors": [error]}, status_code=status)
    return JSONResponse(body, status_code=200 if body.get("status") == "exists" else 201)
