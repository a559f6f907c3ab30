"""Spending: a request holds the money; the fund's parties approve (N of M) or reject; a clerk
voids; the treasurer posts the payment, which releases the hold. Also reversals.

Each step is idempotent: replaying a command finds the step done ("exists") and makes sure its
side effects happened (a hold placed or released, the entry posted) in case a previous attempt
died half-way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.ledger.books import Books, Busy, Posted
from services.ledger.campaigns import Campaigns
from services.ledger.domain import approvals as A
from services.ledger.domain.accounts import BANK, in_kind_account
from services.ledger.domain.funds import NoSuchGoods, Overspend, place_hold
from services.ledger.domain.idempotency import ConflictingReplay, check_same
from services.ledger.domain.journal import reversal_of
from services.ledger.domain.postings import disbursement_draft
from services.ledger.domain.refusals import CommandRefused, RefusalCode, overspent
from services.ledger.store import LedgerStore
from shared.events.ledger import (
    DisbursementDecidedV1,
    DisbursementRequestedV1,
    ReversalRequestedV1,
)
from shared.kafka.failures import TransientError


@dataclass(frozen=True)
class Done:
    status: A.DisbursementStatus
    exists: bool
    data: dict[str, Any]


def _request_content(c: DisbursementRequestedV1) -> dict[str, Any]:
    return {
        "fund": c.fund,
        "project": c.project,
        "amount_fen": c.amount_fen,
        "currency": c.currency,
        "payee": c.payee,
        "purpose": c.purpose,
        "source": c.source,
    }


def public_disbursement(doc: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "fund",
        "project",
        "amount_fen",
        "currency",
        "payee",
        "purpose",
        "status",
        "approvals",
        "required",
        "parties",
        "reason",
        "would_leave_fen",
        "entry_id",
    )
    return {"id": doc["_id"], **{k: doc.get(k) for k in keys}}


class Spending:
    def __init__(self, store: LedgerStore, books: Books, campaigns: Campaigns):
        self._store = store
        self._books = books
        self._campaigns = campaigns

    async def request(self, c: DisbursementRequestedV1) -> Done:
        fund = await self._store.fund_doc(c.fund)
        if fund is None:
            raise CommandRefused(RefusalCode.UNKNOWN_FUND, f"no fund {c.fund}", "body.fund")
        projects = fund.get("projects") or []
        if c.project not in projects:
            raise CommandRefused(
                RefusalCode.UNKNOWN_PROJECT,
                f"{c.project} is not a project of {c.fund}",
                "body.project",
            )
        content = _request_content(c)
        stored = await self._store.disbursement(c.disbursement_id)
        if stored is not None:
            try:
                check_same(
                    "disbursement", c.disbursement_id, {k: stored.get(k) for k in content}, content
                )
            except ConflictingReplay as exc:
                raise CommandRefused(RefusalCode.CONFLICT, str(exc), f"body.{exc.field}") from exc
            if stored["status"] in A.OPEN:
                await self._books.hold(c.fund, c.disbursement_id, c.amount_fen, c.source)
            return Done(stored["status"], True, public_disbursement(stored))
        rule = await self._campaigns.rule(c.fund)
        doc = {
            "_id": c.disbursement_id,
            **content,
            "status": A.REQUESTED,
            "approvals": [],
            "parties": list(rule.parties),
            "required": rule.required,
            "requested_by": c.requested_by,
            "requested_at": c.requested_at,
        }
        state, _ = await self._books.state(c.fund)
        try:
            place_hold(state, c.disbursement_id, c.amount_fen, c.source)
        except NoSuchGoods as exc:  # nothing stored: the same id may ask again
            raise CommandRefused(RefusalCode.NO_SUCH_GOODS, str(exc), "body.source") from exc
        except Overspend as exc:
            doc.update(status=A.REFUSED, reason=str(exc), would_leave_fen=exc.would_leave_fen)
            await self._store.insert_disbursement(doc)
            raise overspent(exc) from exc
        await self._store.insert_disbursement(doc)
        try:
            await self._books.hold(c.fund, c.disbursement_id, c.amount_fen, c.source)
        except Overspend as exc:  # another writer took it in between
            await self._store.update_disbursement(
                c.disbursement_id,
                0,
                {"status": A.REFUSED, "reason": str(exc), "would_leave_fen": exc.would_leave_fen},
            )
            raise overspent(exc) from exc
        return Done(A.REQUESTED, False, public_disbursement(doc))

    async def decide(self, c: DisbursementDecidedV1) -> Done:
        for _ in range(20):
            doc = await self._store.disbursement(c.disbursement_id)
            if doc is None or doc["fund"] != c.fund:
                raise CommandRefused(
                    RefusalCode.NOT_FOUND, f"no disbursement {c.disbursement_id} in {c.fund}"
                )
            done = await self._replayed(c, doc)
            if done:
                return done
            rule = A.ApprovalRule(tuple(doc["parties"]), doc["required"])
            current = A.Disbursement(
                doc["status"], rule, tuple(a["party"] for a in doc["approvals"])
            )
            try:
                if c.action == "approve":
                    after = current.approve(c.party or "")
                elif c.action == "reject":
                    after = current.reject(c.party or "")
                elif c.action == "void":
                    after = current.void()
                else:
                    after = current.post()
            except A.NotAllowed as exc:
                raise CommandRefused(exc.code, str(exc)) from exc
            changes: dict[str, Any] = {"status": after.status}
            if c.action == "approve":
                changes["approvals"] = [
                    *doc["approvals"],
                    {"party": c.party, "by": c.actor, "at": c.at},
                ]
            if c.action in ("reject", "void"):
                changes.update(reason=c.reason, decided_by=c.actor)
            if c.action == "post":
                changes.update(entry_id=await self._post_payment(doc, c), payment_ref=c.payment_ref)
            if await self._store.update_disbursement(doc["_id"], doc["version"], changes):
                if c.action in ("reject", "void"):
                    await self._books.release(doc["fund"], doc["_id"])
                return Done(after.status, False, public_disbursement({**doc, **changes}))
        raise TransientError(f"disbursement {c.disbursement_id} changed too often")

    async def _replayed(self, c: DisbursementDecidedV1, doc: dict[str, Any]) -> Done | None:
        """The decision was already taken: make sure its effects happened, answer exists."""
        status = doc["status"]
        if c.action == "approve" and any(a["party"] == c.party for a in doc["approvals"]):
            return Done(status, True, public_disbursement(doc))
        if (c.action, status) in (("reject", A.REJECTED), ("void", A.VOIDED)):
            await self._books.release(doc["fund"], doc["_id"])
            return Done(status, True, public_disbursement(doc))
        if c.action == "post" and status == A.POSTED:
            return Done(status, True, public_disbursement(doc))
        return None

    async def _post_payment(self, doc: dict[str, Any], c: DisbursementDecidedV1) -> str:
        source = BANK if doc.get("source", "bank") == "bank" else in_kind_account(doc["source"])
        draft = disbursement_draft(
            disbursement_id=doc["_id"],
            fund=doc["fund"],
            project=doc["project"],
            amount_fen=doc["amount_fen"],
            currency=doc["currency"],
            at=c.at,
            source_account=source,
            payment_ref=c.payment_ref,
        )
        [result] = await self._books.post(doc["fund"], [draft])
        if isinstance(result, Busy):
            raise result
        if isinstance(result, Overspend):
            raise overspent(result)
        if isinstance(result, ConflictingReplay):
            existing = await self._store.entry(draft.entry_id)
            if existing is None:
                raise CommandRefused(RefusalCode.CONFLICT, str(result), result.field)
            # posted earlier with another payment date or reference: keep that entry
        return draft.entry_id

    async def reverse(self, c: ReversalRequestedV1) -> Posted:
        original = await self._store.entry(c.original_entry_id)
        if original is None or original["fund"] != c.fund:
            raise CommandRefused(
                RefusalCode.NOT_FOUND,
                f"no entry {c.original_entry_id} in {c.fund}",
                "body.original_entry_id",
            )
        body = json.loads(original["body"])
        try:
            draft = reversal_of(body, c.reversal_id, c.at, c.reason)
        except ValueError as exc:
            raise CommandRefused(
                RefusalCode.NOT_REVERSIBLE, str(exc), "body.original_entry_id"
            ) from exc
        claimed_by = await self._store.claim_reversal(c.original_entry_id, c.reversal_id)
        if claimed_by != c.reversal_id:
            raise CommandRefused(
                RefusalCode.ALREADY_REVERSED,
                f"{c.original_entry_id} is already reversed by {claimed_by}",
                "body.original_entry_id",
            )
        [result] = await self._books.post(c.fund, [draft])
        if isinstance(result, Busy):
            raise result
        if not isinstance(result, Posted):  # refused: the entry may be reversed later
            await self._store.release_reversal(c.original_entry_id, c.reversal_id)
        if isinstance(result, Overspend):
            raise overspent(result, "body.original_entry_id")
        if isinstance(result, ConflictingReplay):
            raise CommandRefused(RefusalCode.CONFLICT, str(result), f"body.{result.field}")
        return result
