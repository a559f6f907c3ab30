"""Donations in (payment callbacks, front desks, goods): post the entry, issue the receipt.

The receipt number is the fund's chain position (``R<year>-<fund>-<seq>``), so a redelivered
donation gets the same number again and no counter can skip or repeat. The receipt event
carries the pseudonymous donor reference only; notify finds the contact on its own topic.
"""

from __future__ import annotations

from services.ledger.books import Books, Posted
from services.ledger.campaigns import Campaigns
from services.ledger.domain.funds import Overspend
from services.ledger.domain.idempotency import Conflict
from services.ledger.domain.postings import donation_draft
from shared.events import DonationReceivedV1, derived_event_id
from shared.events.lifecycle import ReceiptIssuedV1
from shared.kafka.publisher import EventPublisher
from shared.topics import LEDGER_RECEIPTS


def receipt_no(fund: str, year: int, seq: int) -> str:
    return f"R{year}-{fund}-{seq:06d}"


class Donations:
    def __init__(self, books: Books, campaigns: Campaigns, publisher: EventPublisher):
        self._books = books
        self._campaigns = campaigns
        self._publisher = publisher

    async def receive(
        self, event: DonationReceivedV1
    ) -> tuple[Posted | Conflict | Overspend, str | None]:
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
        draft = donation_draft(
            donation_id=event.donation_id,
            fund=event.campaign,
            channel=event.channel,
            amount_fen=event.amount_fen,
            currency=event.currency,
            at=event.received_at,
            item=event.item,
            meta={k: v for k, v in meta.items() if v is not None},
        )
        await self._campaigns.ensure(event.campaign)
        [result] = await self._books.post(event.campaign, [draft])
        number = None
        if isinstance(result, Posted):
            number = receipt_no(event.campaign, event.received_at.year, result.seq)
            receipt = ReceiptIssuedV1(
                receipt_no=number,
                donation_id=event.donation_id,
                campaign=event.campaign,
                channel=event.channel,
                amount_fen=event.amount_fen,
                currency=event.currency,
                donor_ref=event.donor_ref,
                issued_at=event.received_at,
            )
            await self._publisher.publish(
                LEDGER_RECEIPTS,
                receipt,
                key=event.donation_id,
                event_id=derived_event_id("receipt", event.donation_id),
            )
        return result, number
