"""The ledger's use cases for the people who keep the books: the front desks, treasurers and
approvers (the HTTP API calls them; the fund's writer, ``FundWriter``, applies what they send).

Each takes the caller's credential and a request, checks that the key may do it, and answers
a result or raises a refusal (``CommandRefused``, ``ConflictingReplay``, ``KeyRefused``);
Kafka or the database being down propagates as it is. A write becomes a command on
``ledger.commands`` keyed by fund (the fund's single writer applies them in order): the use
case publishes it, then waits up to ``wait_s`` for the writer's answer (``Answered``), or
answers ``Accepted`` with the command's id to ask for later. A donor's contact is published
to notify's topic under a pseudonymous reference; the ledger keeps only that reference.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.ledger.access import KeyRefused, authorise
from services.ledger.application.requests import (
    CampaignIn,
    DecisionIn,
    DisbursementIn,
    DonationIn,
    Donor,
    ReversalIn,
)
from services.ledger.campaigns import Campaigns
from services.ledger.domain.approvals import ApprovalRule
from services.ledger.domain.refusals import AnswerStatus, CommandRefused, RefusalCode, is_refusal
from services.ledger.spending import public_disbursement
from services.ledger.store import LedgerStore
from shared.events import DonationReceivedV1, EventPayload, ResidentContactV1, utcnow
from shared.events.ledger import (
    DisbursementDecidedV1,
    DisbursementRequestedV1,
    ReversalRequestedV1,
)
from shared.kafka.publisher import EventPublisher
from shared.residents import normalise_contact, resident_ref
from shared.topics import LEDGER_COMMANDS, RESIDENTS_CONTACTS

Action = Literal["approve", "reject", "void", "post"]
# who decides: approvers approve or reject (for their party), a clerk voids, the treasurer
# (a clerk's key) posts the payment
DECIDERS: dict[Action, str] = {
    "approve": "approver",
    "reject": "approver",
    "void": "clerk",
    "post": "clerk",
}
POLL_S = 0.05


@dataclass(frozen=True)
class Answered:
    """The writer's answer: done (posted, requested, approved ...) or ``exists`` (a replay)."""

    outcome: dict[str, Any]

    @property
    def exists(self) -> bool:
        return self.outcome.get("status") == AnswerStatus.EXISTS


@dataclass(frozen=True)
class Accepted:
    """Published; the writer had not answered within the wait: ask for ``command_id`` later."""

    command_id: str


@dataclass(frozen=True)
class Opened:
    created: bool
    campaign: dict[str, Any]


class Ledger:
    def __init__(
        self,
        store: LedgerStore,
        campaigns: Campaigns,
        publisher: EventPublisher,
        *,
        resident_secret: str,
        wait_s: float,
        staff_secret: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._store, self._campaigns, self._publisher = store, campaigns, publisher
        self._resident_secret, self._wait_s = resident_secret, wait_s
        self._staff_secret, self._now = staff_secret, clock

    async def _holder(self, credential: str | None, role: str, fund: str) -> dict[str, Any]:
        return await authorise(
            self._store, credential, role=role, fund=fund, staff_secret=self._staff_secret
        )

    async def open_campaign(self, credential: str | None, request: CampaignIn) -> Opened:
        """A restricted fund with goal, period, projects and approval rule; the same id with
        the same content answers ``created=False``, with other content ``ConflictingReplay``."""
        await self._holder(credential, "clerk", request.id)
        approval = request.approval
        try:
            rule = ApprovalRule(tuple(approval.parties), approval.required or len(approval.parties))
        except ValueError as exc:
            raise CommandRefused(RefusalCode.INVALID, str(exc), "body.approval") from exc
        if request.ends < request.starts:
            raise CommandRefused(RefusalCode.INVALID, "ends before it starts", "body.ends")
        created, campaign = await self._campaigns.create(
            request.id,
            name=request.name,
            goal_fen=request.goal_fen,
            starts=request.starts,
            ends=request.ends,
            projects=request.projects,
            rule=rule,
        )
        return Opened(created, campaign)

    async def donate(self, credential: str | None, request: DonationIn) -> Answered | Accepted:
        """A donation recorded at a front desk; the donor's contact, if given, goes only to
        notify (the books keep a pseudonymous reference)."""
        await self._holder(credential, "clerk", request.campaign)
        if not await self._campaigns.exists(request.campaign):
            raise CommandRefused(
                RefusalCode.NOT_FOUND, f"no campaign {request.campaign}", "body.campaign"
            )
        donor_ref = await self._share_contact(request.donor)
        event = donation_event(request, donor_ref, self._now())
        return await self._submit(request.campaign, event)

    async def _share_contact(self, donor: Donor | None) -> str | None:
        """The donor's pseudonymous reference; the contact itself is published for notify."""
        identity = donor and normalise_contact(donor.phone, donor.email)
        if not donor or not identity:
            return None
        reference = resident_ref(self._resident_secret, identity)
        contact = ResidentContactV1.of(reference, donor, self._now())
        await self._publisher.publish(RESIDENTS_CONTACTS, contact, key=reference)
        return reference

    async def request_disbursement(
        self, credential: str | None, request: DisbursementIn
    ) -> Answered | Accepted:
        """Ask to spend; the amount is held until the request is posted, rejected or voided."""
        holder = await self._holder(credential, "clerk", request.fund)
        command = DisbursementRequestedV1(
            **request.model_dump(), requested_by=holder["_id"], requested_at=self._now()
        )
        return await self._submit(request.fund, command)

    async def disbursement(self, credential: str | None, disbursement_id: str) -> dict[str, Any]:
        """A disbursement as its fund's clerks and approvers see it."""
        doc = await self._disbursement_doc(disbursement_id)
        try:
            await self._holder(credential, "clerk", doc["fund"])
        except KeyRefused:
            await self._holder(credential, "approver", doc["fund"])
        return public_disbursement(doc)

    async def decide(
        self, credential: str | None, disbursement_id: str, action: Action, request: DecisionIn
    ) -> Answered | Accepted:
        """Approve, reject, void or post a disbursement; the decision's time is the server's."""
        doc = await self._disbursement_doc(disbursement_id)
        holder = await self._holder(credential, DECIDERS[action], doc["fund"])
        command = DisbursementDecidedV1(
            disbursement_id=disbursement_id,
            fund=doc["fund"],
            action=action,
            actor=holder["_id"],
            party=holder.get("party"),
            reason=request.reason,
            payment_ref=request.payment_ref,
            at=self._now(),
        )
        return await self._submit(doc["fund"], command)

    async def reverse(self, credential: str | None, request: ReversalIn) -> Answered | Accepted:
        """Correct a mistake with the entry that cancels the original (which stays)."""
        holder = await self._holder(credential, "clerk", request.fund)
        command = ReversalRequestedV1(
            **request.model_dump(), requested_by=holder["_id"], at=self._now()
        )
        return await self._submit(request.fund, command)

    async def answer(self, command_id: str) -> Answered:
        """The writer's answer to a command accepted earlier (its refusal is raised)."""
        outcome = await self._store.outcome(command_id)
        if outcome is None:
            raise CommandRefused(RefusalCode.NOT_FOUND, "no outcome yet; retry later")
        return answered(outcome)

    async def _disbursement_doc(self, disbursement_id: str) -> dict[str, Any]:
        doc = await self._store.disbursement(disbursement_id)
        if doc is None:
            raise CommandRefused(RefusalCode.NOT_FOUND, f"no disbursement {disbursement_id}")
        return doc

    async def _submit(self, fund: str, command: EventPayload) -> Answered | Accepted:
        """Publish the command to the fund's writer, then wait for its answer."""
        command_id = str(uuid.uuid4())
        await self._publisher.publish(LEDGER_COMMANDS, command, key=fund, event_id=command_id)
        deadline = time.monotonic() + self._wait_s
        while time.monotonic() < deadline:
            outcome = await self._store.outcome(command_id)
            if outcome:
                return answered(outcome)
            await asyncio.sleep(POLL_S)
        return Accepted(command_id)


def answered(outcome: dict[str, Any]) -> Answered:
    """A recorded answer as the result, or its refusal raised."""
    if is_refusal(outcome):
        raise CommandRefused.of(outcome)
    return Answered({k: v for k, v in outcome.items() if k not in ("_id", "at")})


def donation_event(request: DonationIn, donor_ref: str | None, now: datetime) -> DonationReceivedV1:
    """The donation as the command its fund's writer posts; a donor's name only if the donor
    chose to be named, the contact never."""
    donor = request.donor
    return DonationReceivedV1(
        **request.model_dump(exclude={"donor", "received_at"}),
        donor_name=donor.name if donor and donor.named else None,
        received_at=request.received_at or now,
        donor_ref=donor_ref,
    )
