"""Ledger's use cases: post donations; summarise what each campaign raised."""

from __future__ import annotations

from dataclasses import asdict

from services.ledger.domain import donation_legs
from services.ledger.store import Journal
from shared.events import DonationReceivedV1, Envelope, utcnow


class Books:
    def __init__(self, journal: Journal):
        self._journal = journal

    async def on_donation(self, _: Envelope, event: DonationReceivedV1) -> str:
        legs = donation_legs(event.channel, event.campaign, event.amount_fen, event.currency)
        posted = await self._journal.post(
            f"donation:{event.donation_id}",
            {
                "kind": "donation",
                "campaign": event.campaign,
                "channel": event.channel,
                "amount_fen": event.amount_fen,
                "currency": event.currency,
                "legs": [asdict(leg) for leg in legs],
                "received_at": event.received_at,
                "posted_at": utcnow(),
            },
        )
        return "ok" if posted else "duplicate"

    async def raised(self) -> dict[str, dict[str, int]]:
        summary: dict[str, dict[str, int]] = {}
        for row in await self._journal.raised_by_campaign():
            campaign = summary.setdefault(row["_id"]["campaign"], {"total_fen": 0})
            campaign[f"{row['_id']['channel']}_fen"] = row["fen"]
            campaign["total_fen"] += row["fen"]
        return summary
