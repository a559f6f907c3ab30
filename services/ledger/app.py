"""Ledger's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.ledger.application.ledger import Ledger
from services.ledger.application.writer import FundWriter
from services.ledger.books import Books, replica_writer
from services.ledger.campaigns import Campaigns
from services.ledger.donations import Donations
from services.ledger.http import build_router, refusals
from services.ledger.public import PublicAccount, build_public_router
from services.ledger.spending import Spending
from services.ledger.store import LedgerStore
from shared.events import DonationReceivedV1, ResidentContactV1
from shared.events.ledger import (
    COMMANDS,
    DisbursementDecidedV1,
    DisbursementRequestedV1,
    ReversalRequestedV1,
)
from shared.events.lifecycle import ReceiptIssuedV1
from shared.service import build_parts
from shared.settings import Settings
from shared.topics import LEDGER_COMMANDS, LEDGER_DONATIONS, LEDGER_RECEIPTS, RESIDENTS_CONTACTS


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    parts = build_parts(settings, "ledger")
    store = LedgerStore(parts.db)
    books = Books(store, writer=replica_writer(settings.group_instance_id("ledger")))
    campaigns = Campaigns(store)
    donations = Donations(books, campaigns, parts.publisher)
    spending = Spending(store, books, campaigns)
    writer = FundWriter(store, donations, spending)
    ledger = Ledger(
        store,
        campaigns,
        parts.publisher,
        resident_secret=settings.resident_secret.get_secret_value(),
        wait_s=settings.ledger_command_wait_s,
        staff_secret=settings.web_token_secret.get_secret_value(),
    )
    parts.publisher.declare(LEDGER_RECEIPTS, ReceiptIssuedV1)
    for command in (DonationReceivedV1, *COMMANDS):
        parts.publisher.declare(LEDGER_COMMANDS, command, "The ledger's commands, keyed by fund")
    parts.publisher.declare(RESIDENTS_CONTACTS, ResidentContactV1)
    parts.consume(
        LEDGER_DONATIONS,
        {},
        "Payment callbacks and other donation sources",
        batch_size=settings.ledger_batch_size,
        batch_handlers={DonationReceivedV1: writer.on_callbacks},
        streaming=True,
    )
    parts.consume(
        LEDGER_COMMANDS,
        {
            DisbursementRequestedV1: writer.on_request,
            DisbursementDecidedV1: writer.on_decision,
            ReversalRequestedV1: writer.on_reversal,
        },
        "The fund's single writer: front-desk donations, spending, decisions, reversals",
        batch_size=settings.ledger_batch_size,
        batch_handlers={DonationReceivedV1: writer.on_donations},
        streaming=True,
    )
    refusals(parts.errors)
    app = parts.app(
        title="Linli ledger",
        description="The charity fund's double-entry books, approvals and public account.",
        routers=[
            build_router(ledger),
            build_public_router(PublicAccount(store)),
        ],
        prepare_db=store.prepare,
    )

    return app
