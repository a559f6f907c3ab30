"""The single writer: the consumers of ``ledger.commands`` (keyed by fund, so each fund's
commands come in order to one consumer) and ``ledger.donations`` (payment callbacks, keyed by
campaign). Each command's answer is recorded under its event id for the HTTP caller waiting
for it (the first answer recorded stays, so a redelivered command answers the same); refusals
are answers, not errors (the consumer goes on); a command that fails in a way that can never
pass is answered "unprocessable" and dead-lettered.

Donations come in batches: both consumers stream, each partition's share of a fetch being
one batch, chained behind that partition's previous one (so a fund's batches are posted in
order while other funds, and the next fetch, go on). A batch's donations are posted with one
group commit per fund, in offset order, and their answers recorded with one write. They go
before the batch's other commands (spending, decisions, reversals, one at a time): a donation
only adds money, so no refusal can turn into an overspend by it, and payment callbacks on
``ledger.donations`` have no order with the commands anyway.

A payment callback (``ledger.donations``) has nobody waiting for its answer: a refusal
(an unknown campaign, the same donation id with other content) is also logged and sent to the
dead-letter topic with its reason. A donation that cannot be booked at all is a dead letter on
either topic."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from services.ledger.books import Busy, Posted, UnknownFund
from services.ledger.domain.accounts import BadAccount
from services.ledger.domain.funds import Overspend
from services.ledger.domain.idempotency import ConflictingReplay
from services.ledger.domain.journal import UnbalancedEntry
from services.ledger.domain.refusals import (
    AnswerStatus,
    CommandRefused,
    RefusalCode,
    is_refusal,
    overspent,
)
from services.ledger.donations import Donations
from services.ledger.spending import Done, Spending
from services.ledger.store import LedgerStore
from shared.events import DonationReceivedV1, Envelope
from shared.events.ledger import (
    DisbursementDecidedV1,
    DisbursementRequestedV1,
    ReversalRequestedV1,
)
from shared.kafka.consumer import Item, PoisonMessage
from shared.kafka.failures import is_transient
from shared.logging import get_logger

log = get_logger("linli.ledger.writer")


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
        status = AnswerStatus.EXISTS if result.exists else result.status
        return {"status": status, "disbursement": result.data}
    return refusal_of(result, fund_field).outcome()


def refusal_of(result: object, fund_field: str) -> CommandRefused:
    """A result that refuses the command, as the refusal (``fund_field``: the input field that
    names the fund)."""
    if isinstance(result, ConflictingReplay):
        field = result.field.removeprefix("meta.").split("[")[0]
        field = {"fund": fund_field, "reverses": "original_entry_id"}.get(field, field)
        return CommandRefused(RefusalCode.CONFLICT, str(result), f"body.{field}")
    if isinstance(result, Overspend):
        return overspent(result)
    if isinstance(result, UnknownFund):
        return CommandRefused(
            RefusalCode.UNKNOWN_CAMPAIGN, f"no campaign {result}", f"body.{fund_field}"
        )
    if isinstance(result, CommandRefused):
        return result
    raise TypeError(f"no answer for {result!r}")


UNPROCESSABLE = CommandRefused(
    RefusalCode.UNPROCESSABLE,
    "the ledger cannot process this command; it was set aside for an operator",
).outcome()


def refusal(event: DonationReceivedV1, outcome: dict[str, Any]) -> PoisonMessage:
    """A refused donation as a dead letter: its reason, the field and the code, logged."""
    log.warning(
        "donation_refused",
        donation=event.donation_id,
        campaign=event.campaign,
        code=outcome["code"],
        field=outcome["field"],
        reason=outcome["message"],
    )
    return PoisonMessage(
        f"donation {event.donation_id} refused ({outcome['code']}, {outcome['field']}): "
        f"{outcome['message']}"
    )


class FundWriter:
    def __init__(self, store: LedgerStore, donations: Donations, spending: Spending):
        self._store = store
        self._donations = donations
        self._spending = spending

    async def _record(self, envelope: Envelope, outcome: dict[str, Any]) -> str:
        await self._store.record_outcome(envelope.id, outcome)
        return "refused" if is_refusal(outcome) else "ok"

    async def on_donations(self, items: list[Item]) -> list[str | PoisonMessage]:
        """A batch of front-desk donations (``ledger.commands``): posted per fund in one group
        commit, answers in one write; a donation that cannot be booked is a dead letter. If
        another writer is busy with one of the ids, the answers found so far are recorded and
        the batch is tried again."""
        try:
            return await self._donations_batch(items, callbacks=False)
        except Exception as exc:  # alone (the consumer splits a failed batch): answer it
            if len(items) == 1 and not is_transient(exc):
                await self._record(items[0][0], UNPROCESSABLE)
            raise

    async def on_callbacks(self, items: list[Item]) -> list[str | PoisonMessage]:
        """A batch of payment callbacks (``ledger.donations``): as front-desk donations, but
        a refused one is logged and dead-lettered with its reason (nobody waits for it)."""
        return await self._donations_batch(items, callbacks=True)

    async def _donations_batch(
        self, items: list[Item], *, callbacks: bool
    ) -> list[str | PoisonMessage]:
        events: list[DonationReceivedV1] = [event for _, event in items]  # type: ignore[misc]
        outcomes = await self._donations.post_many(events)
        answers: list[tuple[str, dict[str, Any]]] = []
        labels: list[str | PoisonMessage] = []
        busy: Busy | None = None
        for (envelope, event), (result, receipt) in zip(items, outcomes, strict=True):
            if isinstance(result, UnbalancedEntry | BadAccount):
                labels.append(
                    PoisonMessage(f"donation {event.donation_id} cannot be booked: {result}")
                )
                continue
            if isinstance(result, Busy):
                busy = busy or result
                labels.append("busy")
                continue
            extra = {"receipt_no": receipt} if receipt else {}
            outcome = answer(result, "campaign", **extra)
            answers.append((envelope.id, outcome))
            refused = is_refusal(outcome)
            if refused and (callbacks or isinstance(result, UnknownFund)):
                labels.append(refusal(event, outcome))
                continue
            labels.append("refused" if refused else "ok")
        await asyncio.gather(
            self._donations.publish_receipts(events, outcomes),
            self._store.record_outcomes(answers),
        )
        if busy is not None:
            raise busy
        return labels

    async def on_request(self, envelope: Envelope, command: DisbursementRequestedV1) -> str:
        return await self._answered(envelope, self._spending.request(command))

    async def on_decision(self, envelope: Envelope, command: DisbursementDecidedV1) -> str:
        return await self._answered(envelope, self._spending.decide(command))

    async def on_reversal(self, envelope: Envelope, command: ReversalRequestedV1) -> str:
        return await self._answered(envelope, self._spending.reverse(command))

    async def _answered(self, envelope: Envelope, work: Awaitable[object]) -> str:
        """Run a command and record its answer: the result, or the refusal. A failure that
        can never pass (a bug) is answered too, so the caller is not left waiting, and then
        raised: the consumer dead-letters the command with its error."""
        try:
            result: object = await work
        except CommandRefused as exc:
            result = exc
        except Exception as exc:
            if not is_transient(exc):
                await self._record(envelope, UNPROCESSABLE)
            raise
        return await self._record(envelope, answer(result))
