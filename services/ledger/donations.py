"""Donations in (payment callbacks, front desks, goods): post the entries, issue the receipts.

A batch of donations is grouped per fund and posted with one group commit per fund, in the
order they came; the receipts are then published together. The receipt number is the fund's
chain position (``R<year>-<fund>-<seq>``), so a redelivered donation gets the same number again
and no counter can skip or repeat; a replay re-sends the identical receipt (number and time
are the posted entry's, not the replay's). The receipt event carries the pseudonymous donor
reference only; notify finds the contact on its own topic.

A donation names a campaign that must exist: one for an unknown campaign answers
``UnknownFund`` (nothing is opened for it).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from services.ledger.books import Books, Busy, Posted, UnknownFund
from services.ledger.campaigns import Campaigns
from services.ledger.domain.accounts import BadAccount
from services.ledger.domain.funds import Overspend
from services.ledger.domain.idempotency import ConflictingReplay
from services.ledger.domain.journal import Draft, UnbalancedEntry
from services.ledger.domain.postings import donation_draft
from shared.events import DonationReceivedV1, derived_event_id
from shared.events.lifecycle import ReceiptIssuedV1
from shared.kafka.publisher import EventPublisher, Outgoing
from shared.topics import LEDGER_RECEIPTS

# what posting a donation came to: posted (or a replay), refused, busy, or not bookable
Booked = Posted | ConflictingReplay | Overspend | Busy | UnbalancedEntry | BadAccount | UnknownFund
Posting = tuple[Booked, str | None]  # and the receipt number, when posted


def receipt_no(fund: str, year: int, seq: int) -> str:
    return f"R{year}-{fund}-{seq:06d}"


def draft_of(event: DonationReceivedV1) -> Draft:
    meta = {
        "amount_fen": event.amount_fen,
        "currency": event.currency,
        "item": event.item,
        "donor_name": event.donor_name,
        "donor_ref": event.donor_ref,
        "payment_ref": event.payment_ref,
        "receipt_book_no": event.receipt_book_no,
        "quantity": event.quantity,
        "valuation_method": event.valuation_method,
    }
    return donation_draft(
        donation_id=event.donation_id,
        fund=event.campaign,
        channel=event.channel,
        amount_fen=event.amount_fen,
        currency=event.currency,
        at=event.received_at,
        item=event.item,
        meta={k: v for k, v in meta.items() if v is not None},
    )


class Donations:
    def __init__(self, books: Books, campaigns: Campaigns, publisher: EventPublisher):
        self._books = books
        self._campaigns = campaigns
        self._publisher = publisher

    async def post_many(self, events: list[DonationReceivedV1]) -> list[Posting]:
        """Post donations, one group commit per fund (the funds side by side), each fund's in
        the order they came; one ``(result, receipt number)`` per event. A donation that
        cannot be booked (its campaign id cannot name an account) answers
        ``UnbalancedEntry``/``BadAccount``; one for a campaign that does not exist,
        ``UnknownFund``."""
        outcomes: list[Posting | None] = [None] * len(events)
        per_fund: dict[str, list[tuple[int, Draft]]] = {}
        for i, event in enumerate(events):
            try:
                per_fund.setdefault(event.campaign, []).append((i, draft_of(event)))
            except (UnbalancedEntry, BadAccount) as exc:
                outcomes[i] = (exc, None)

        async def post(fund: str, items: list[tuple[int, Draft]]) -> None:
            if not await self._campaigns.exists(fund):
                for i, _ in items:
                    outcomes[i] = (UnknownFund(fund), None)
                return
            results = await self._books.post(fund, [d for _, d in items])
            for (i, _), result in zip(items, results, strict=True):
                number = None
                if isinstance(result, Posted):
                    year = datetime.fromisoformat(result.at).year
                    number = receipt_no(fund, year, result.seq)
                outcomes[i] = (result, number)

        await asyncio.gather(*(post(fund, items) for fund, items in per_fund.items()))
        return [o for o in outcomes if o is not None]

    async def publish_receipts(
        self, events: list[DonationReceivedV1], outcomes: list[Posting]
    ) -> None:
        """The receipts of the posted (or already posted) donations, sent together, each
        with its campaign's name for the donor's thanks."""
        funds = sorted({event.campaign for event in events})
        names = dict(zip(funds, [await self._campaigns.name(fund) for fund in funds], strict=True))
        await self._publisher.publish_many(
            [
                Outgoing(
                    LEDGER_RECEIPTS,
                    receipt_of(
                        event, number, datetime.fromisoformat(result.at), names[event.campaign]
                    ),
                    event.donation_id,
                    receipt_event_id(event),
                )
                for event, (result, number) in zip(events, outcomes, strict=True)
                if number is not None and isinstance(result, Posted)
            ]
        )


def receipt_event_id(event: DonationReceivedV1) -> str:
    return derived_event_id("receipt", event.donation_id)


def receipt_of(
    event: DonationReceivedV1, number: str, issued_at: datetime, campaign_name: str | None
) -> ReceiptIssuedV1:
    """The receipt of a posted donation; ``issued_at`` is the posted entry's time, so a
    replay (whose event may carry another time) re-sends the same receipt."""
    return ReceiptIssuedV1(
        receipt_no=number,
        donation_id=event.donation_id,
        campaign=event.campaign,
        campaign_name=campaign_name,
        channel=event.channel,
        amount_fen=event.amount_fen,
        currency=event.currency,
        donor_ref=event.donor_ref,
        issued_at=issued_at,
    )
