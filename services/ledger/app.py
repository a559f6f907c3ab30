"""Ledger's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.ledger.books import Books
from services.ledger.http import build_router
from services.ledger.store import Journal
from shared.events import DonationReceivedV1
from shared.service import build_parts
from shared.settings import Settings
from shared.topics import LEDGER_DONATIONS


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    parts = build_parts(settings, "ledger")
    journal = Journal(parts.db)
    books = Books(journal)
    parts.consume(LEDGER_DONATIONS, {DonationReceivedV1: books.on_donation})
    return parts.app(
        title="Linli ledger",
        description="The charity fund's journal and its public account.",
        routers=[build_router(books, retry_after_s=settings.retry_after_s)],
        prepare_db=journal.prepare,
    )
