"""How intake's refusals answer over HTTP, registered in the platform's one error mapping
(``shared/http/errors.py``): outages (Kafka, the database) are the map's own 503s. Open311's
routes render the same answers in the spec's error format."""

from __future__ import annotations

from services.intake.application.refusals import (
    BadToken,
    IdempotencyConflict,
    NotFound,
    PlaceMissing,
)
from services.intake.domain import ReportRejected
from shared.http.errors import ApiError, ErrorMap


def _rejected(exc: ReportRejected) -> ApiError:
    """400, but 413 for a photo too large and 404 for an unknown Open311 service code."""
    status = 400
    if exc.code == "too_large":
        status = 413
    elif exc.code == "unknown" and exc.field == "service_code":
        status = 404
    return ApiError(status, exc.code, exc.message, exc.field)


def refusals(errors: ErrorMap) -> None:
    errors.refuse(ReportRejected, _rejected)
    errors.refuse(NotFound, lambda exc: ApiError(404, "not_found", exc.message, exc.field))
    errors.refuse(BadToken, lambda exc: ApiError(401, "bad_token", exc.message, exc.field))
    errors.refuse(
        IdempotencyConflict,
        lambda exc: ApiError(409, "idempotency_conflict", exc.message, exc.field),
    )
    errors.refuse(PlaceMissing, lambda exc: ApiError(422, "missing", exc.message, exc.field))
