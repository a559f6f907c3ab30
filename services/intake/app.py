"""Intake's composition root: reference data, Kafka, MongoDB and HTTP wired together."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware import Middleware

from services.intake.application import Filing, Intake, Nearby, Reading, ReadModel
from services.intake.consumers import ReadModelConsumers
from services.intake.domain.places import Places
from services.intake.http import routers
from services.intake.http.fast_lane import FastReportLane
from services.intake.http.limits import RateLimiter, TokenBuckets
from services.intake.idempotency import IdempotencyRecords
from services.intake.keys import ApiKeys
from services.intake.media import MediaStore
from services.intake.store import IssueStore
from shared.events import IssueReportedV1, ResidentContactV1, utcnow
from shared.events.follow import IssueFollowedV1
from shared.reference import Reference, load_reference
from shared.service import ServiceParts, build_parts
from shared.settings import Settings
from shared.topics import ISSUES_REPORTED, RESIDENTS_CONTACTS


def _intake(settings: Settings, reference: Reference, parts: ServiceParts) -> Intake:
    tree, categories = reference.tree, reference.categories
    places, store, media = Places(tree), IssueStore(parts.db), MediaStore(parts.db["media"])
    secret = settings.resident_secret.get_secret_value()
    read_model = ReadModel(store, tree)
    nearby = Nearby(
        store,
        categories,
        places,
        radius_km=settings.intake_duplicate_radius_m / 1000,
        days=settings.intake_duplicate_days,
        clock=utcnow,
    )
    filing = Filing(
        publisher=parts.publisher,
        store=store,
        idempotency=IdempotencyRecords(parts.db["idempotency"]),
        media=media,
        nearby=nearby,
        read_model=read_model,
        categories=categories,
        places=places,
        secret=secret,
        clock=utcnow,
    )
    reading = Reading(
        store=store, media=media, categories=categories, places=places, secret=secret, clock=utcnow
    )
    return Intake(filing, reading, nearby, read_model, categories)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    reference = load_reference(settings.config_dir)
    parts = build_parts(settings, "intake")
    parts.publisher.declare(ISSUES_REPORTED, IssueReportedV1)
    parts.publisher.declare(ISSUES_REPORTED, IssueFollowedV1)
    parts.publisher.declare(RESIDENTS_CONTACTS, ResidentContactV1)
    intake = _intake(settings, reference, parts)
    ReadModelConsumers(intake.read_model).subscribe(parts)
    limiter = RateLimiter(
        per_client=TokenBuckets(settings.intake_rate_per_client, settings.intake_burst_per_client),
        per_key=TokenBuckets(settings.intake_rate_per_key, settings.intake_burst_per_key),
    )
    apis, file_report = routers(
        intake,
        limiter=limiter,
        keys=ApiKeys(parts.db["api_keys"]),
        errors=parts.errors,
        max_photo_bytes=settings.intake_max_photo_bytes,
        started=utcnow(),
    )
    app = parts.app(
        title="Linli intake",
        description="Residents' reports and service requests (native API and Open311 "
        "GeoReport v2); publishes issue events.",
        routers=apis,
        prepare_db=IssueStore(parts.db).prepare,
        body_limits={"/api/v1/media": settings.intake_max_photo_bytes + 16 * 1024},
    )
    # innermost of the platform's middleware: inside the body limit and the metrics
    app.user_middleware.append(
        Middleware(FastReportLane, file_report=file_report, errors=parts.errors)
    )
    return app
