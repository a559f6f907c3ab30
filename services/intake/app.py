"""Intake's composition root: reference data, Kafka, MongoDB and HTTP wired together."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware

from services.intake.consumers import ReadModelUpdater
from services.intake.domain.places import Places
from services.intake.fast_lane import FastReportLane
from services.intake.http import build_router, refusals
from services.intake.idempotency import IdempotencyRecords
from services.intake.keys import ApiKeys
from services.intake.limits import RateLimiter, TokenBuckets
from services.intake.media import MediaStore
from services.intake.open311_http import build_open311_router
from services.intake.reports import ReportService
from services.intake.store import IssueStore
from shared.events import IssueReportedV1, ResidentContactV1, utcnow
from shared.events.follow import IssueFollowedV1
from shared.reference import load_reference
from shared.service import build_parts
from shared.settings import Settings
from shared.topics import ISSUES_LIFECYCLE, ISSUES_REPORTED, RESIDENTS_CONTACTS


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    reference = load_reference(settings.config_dir)
    tree = reference.tree
    parts = build_parts(settings, "intake")
    parts.publisher.declare(ISSUES_REPORTED, IssueReportedV1)
    parts.publisher.declare(ISSUES_REPORTED, IssueFollowedV1)
    parts.publisher.declare(RESIDENTS_CONTACTS, ResidentContactV1)
    store = IssueStore(parts.db)

    def compound_of(node_id: str) -> str | None:
        node = tree.ancestor_at(node_id, "compound") if node_id in tree else None
        return node.id if node is not None else None

    updater = ReadModelUpdater(store, compound_of)
    parts.consume(ISSUES_REPORTED, {}, batch_handlers={IssueReportedV1: updater.on_reported})
    parts.consume(ISSUES_LIFECYCLE, updater.handlers())
    reports = ReportService(
        publisher=parts.publisher,
        store=store,
        categories=reference.categories,
        places=Places(tree),
        secret=settings.resident_secret.get_secret_value(),
        read_model=updater,
        duplicate_radius_km=settings.intake_duplicate_radius_m / 1000,
        duplicate_days=settings.intake_duplicate_days,
    )
    limiter = RateLimiter(
        per_client=TokenBuckets(settings.intake_rate_per_client, settings.intake_burst_per_client),
        per_key=TokenBuckets(settings.intake_rate_per_key, settings.intake_burst_per_key),
    )
    refusals(parts.errors)
    native, file_report = build_router(
        reports,
        IdempotencyRecords(parts.db["idempotency"]),
        MediaStore(parts.db["media"]),
        limiter,
        settings.intake_max_photo_bytes,
    )
    open311 = build_open311_router(
        reports, ApiKeys(parts.db["api_keys"]), limiter, utcnow(), parts.errors
    )

    async def prepare_db() -> None:
        await store.prepare()

    app = parts.app(
        title="Linli intake",
        description="Residents' reports and service requests (native API and Open311 "
        "GeoReport v2); publishes issue events.",
        routers=[native, open311],
        prepare_db=prepare_db,
        body_limits={"/api/v1/media": settings.intake_max_photo_bytes + 16 * 1024},
    )
    # innermost of the platform's middleware: inside the body limit and the metrics
    app.user_middleware.append(
        Middleware(FastReportLane, file_report=file_report, errors=parts.errors)
    )
    return app
