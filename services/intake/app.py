"""Intake's composition root: reference data, Kafka, MongoDB and HTTP wired together."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake.consumers import ReadModelUpdater
from services.intake.http import build_router
from services.intake.reports import ReportService
from services.intake.store import IssueStore
from shared.events import IssueAssignedV1, IssueReportedV1, ResidentContactV1
from shared.reference import load_reference
from shared.service import build_parts
from shared.settings import Settings
from shared.topics import ISSUES_LIFECYCLE, ISSUES_REPORTED, RESIDENTS_CONTACTS


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    reference = load_reference(settings.config_dir)
    parts = build_parts(settings, "intake")
    parts.publisher.declare(ISSUES_REPORTED, IssueReportedV1)
    parts.publisher.declare(RESIDENTS_CONTACTS, ResidentContactV1)
    store = IssueStore(parts.db)
    updater = ReadModelUpdater(store)
    parts.consume(ISSUES_REPORTED, {IssueReportedV1: updater.on_reported})
    parts.consume(ISSUES_LIFECYCLE, {IssueAssignedV1: updater.on_assigned})
    reports = ReportService(
        publisher=parts.publisher,
        store=store,
        categories=reference.categories,
        node_exists=lambda node_id: reference.tree.get(node_id) is not None,
        secret=settings.resident_secret.get_secret_value(),
        retry_after_s=settings.retry_after_s,
    )
    return parts.app(
        title="Linli intake",
        description="Residents' reports and service requests; publishes issue events.",
        routers=[build_router(reports)],
        prepare_db=store.prepare,
    )
