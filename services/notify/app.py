"""Notify's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.notify.http import build_router
from services.notify.messages import Notifier
from services.notify.store import NotifyStore
from shared.events import IssueAssignedV1, ResidentContactV1
from shared.service import build_parts
from shared.settings import Settings
from shared.topics import ISSUES_LIFECYCLE, RESIDENTS_CONTACTS


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    parts = build_parts(settings, "notify")
    store = NotifyStore(parts.db)
    notifier = Notifier(store)
    parts.consume(RESIDENTS_CONTACTS, {ResidentContactV1: notifier.on_contact})
    parts.consume(ISSUES_LIFECYCLE, {IssueAssignedV1: notifier.on_assigned})
    router = build_router(
        store,
        secret=settings.resident_secret.get_secret_value(),
        retry_after_s=settings.retry_after_s,
    )
    return parts.app(
        title="Linli notify",
        description="Residents' inboxes and notifications.",
        routers=[router],
        prepare_db=store.prepare,
    )
