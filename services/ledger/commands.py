"""The single writer: the consumers of ``ledger.commands`` (keyed by fund, so each fund's
commands come in order to one consumer) and ``ledger.donations`` (payment callbacks, keyed by
campaign). Each command's answer is recorded under its event id for the HTTP caller waiting
for it; refusals are answers, not errors (the consumer goes on)."""

from __future__ import annotations

from typing import Any

from services.ledger.books import Posted
from services.ledger.domain.accounts import BadAccount
from services.ledger.domain.funds import Overspend
from services.ledger.domain.idempotency import Conflict
from services.ledger.domain.journal import UnbalancedEntry
from services.ledger.donations import Donations
from services.ledger.spending import Done, Refused, Spending
from services.ledger.store import LedgerStore
from shared.events import DonationReceivedV1, Envelope
from shared.events.ledger import (
    DisbursementDecidedV1,
    DisbursementRequestedV1,
    ReversalRequestedV1,
)
from shared.kafka.consumer import PoisonMessage


def answer(result: object, fund_field: str = "fund", **extra: Any) -> dict[str, Any]:
    """The recorded outcome of a command, as the HTTP API returns it."""
    if isinstance(result, Posted):
        return {
            "status": result.status,
            "entry_id": result.entry_id,
            "seq": result.seq,
            "hash": result.hash,
            **extra,
        }
    if isinstance(result, Done):
        return {"status": "exists" if result.exists else result.status, "disbursement": result.data}
    if isinstance(result, Conflict):
        field = result.field.removeprefix("meta.").split("[")[0]
        field = {"fund": fund_field, "reverses": "original_entry_id"}.get(field, field)
        return {
            "status": "refused",
            "code": "conflict",
            "field": f"body.{field}",
            "message": str(result),
        }
    if isinstance(result, Overspend):
        return {
            "status": "refused",
            "code": "overspend",
            "field": "body.amount_fen",
            "message": str(result),
            "would_leave_fen": result.would_leave_fen,
        }
    if isinstance(result, Refused):
        return {
            "status": "refused",
            "code": result.code,
            "field": result.field,
            "message": result.message,
            **result.extra,
        }
    raise TypeError(f"no answer for {result!r}")


class Commands:
    def __init__(self, store: LedgerStore, donations: Donations, spending: Spending):
        self._store = store
        self._donations = donations
        self._spending = spending

    async def _record(self, envelope: Envelope, outcome: dict[str, Any]) -> str:
        await self._store.record_outcome(envelope.id, outcome)
        return "refused" if outcome["status"] == "refused" else "ok"

    async def on_donation(self, envelope: Envelope, event: DonationReceivedV1) -> str:
        try:
            result, receipt = await self._donations.receive(event)
        except (
            UnbalancedEntry,
            BadAccount,
        ) as exc:  # e.g. a campaign id that cannot name an account
            raise PoisonMessage(f"donation {event.donation_id} cannot be booked: {exc}") from exc
        extra = {"receipt_no": receipt} if receipt else {}
        return await self._record(envelope, answer(result, "campaign", **extra))

    async def on_request(self, envelope: Envelope, command: DisbursementRequestedV1) -> str:
        try:
            result: object = await self._spending.request(command)
        except Refused as exc:
            result = exc
        return await self._record(envelope, answer(result))

    async def on_decision(self, envelope: Envelope, command: DisbursementDecidedV1) -> str:
        try:
            result: object = await self._spending.decide(command)
        except Refused as exc:
            result = exc
        return await self._record(envelope, answer(result))

    async def on_reversal(self, envelope: Envelope, command: ReversalRequestedV1) -> str:
        try:
            result: object = await self._spending.reverse(command)
        except Refused as exc:
            result = exc
        return await self._record(envelope, answer(result))
