"""Filing a report over the native API: ``POST /api/v1/issues`` (also the fast lane's, via
``report_filer``) and ``GET /api/v1/duplicates``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from services.intake.application import Intake
from services.intake.application.commands import (
    NATIVE_PLACE_FIELDS,
    Accepted,
    DuplicatesFound,
    FileReport,
    PlaceAsked,
    Replayed,
)
from services.intake.application.refusals import PlaceMissing
from services.intake.domain import Contact, ReportDraft
from services.intake.http.limits import RateLimiter
from services.intake.http.models import ContactIn, DuplicatesOffered, ReportAccepted, ReportIn
from services.intake.idempotency import body_fingerprint
from shared.http.schema import error_responses

ISSUES_PATH = "/api/v1/issues"
QUERY_FIELDS = ("query.category", "query.node_id", "query.address", "query.lat", "query.lon")
FileReportFn = Callable[[ReportIn, str, str | None], Awaitable[Response]]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def contact_of(body: ContactIn | None) -> Contact | None:
    return Contact(**body.model_dump()) if body else None


def report_command(body: ReportIn, idempotency_key: str | None) -> FileReport:
    """The validated body as the use case's command."""
    if body.node_id is None and body.address is None and body.lat is None:
        raise PlaceMissing("give node_id, address, or lat and lon", "body.node_id")
    fingerprint = "" if idempotency_key is None else body_fingerprint(body.model_dump(mode="json"))
    draft = ReportDraft(
        body.category,
        "",  # placed by the use case
        body.description,
        contact_of(body.contact),
        attributes=dict(body.attributes),
        address=body.address,
        lat=body.lat,
        lon=body.lon,
        media_url=body.media_url,
    )
    place = PlaceAsked(body.node_id, body.address, body.lat, body.lon, NATIVE_PLACE_FIELDS)
    offer = body.if_duplicate == "offer"
    return FileReport(draft, place, idempotency_key, fingerprint, offer)


def filing_answer(result: Accepted | Replayed | DuplicatesFound) -> Response:
    if isinstance(result, DuplicatesFound):
        return JSONResponse(DuplicatesOffered(candidates=result.candidates).model_dump())
    if isinstance(result, Replayed):
        headers = {} if result.first else {"Idempotent-Replayed": "true"}
        return JSONResponse(result.answer, status_code=result.status, headers=headers)
    return JSONResponse(result.answer(), status_code=202)


def report_filer(intake: Intake, limiter: RateLimiter) -> FileReportFn:
    """What POST /issues does once the request is validated (also the fast lane's)."""

    async def file_report(body: ReportIn, client: str, idempotency_key: str | None) -> Response:
        limiter.check(client)
        return filing_answer(await intake.filing.file(report_command(body, idempotency_key)))

    return file_report


IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Same key and body: the first answer again; other body: 409",
    ),
]


def filing_routes(intake: Intake, file_report: FileReportFn) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["reports"])

    @router.post(
        "/issues",
        status_code=202,
        response_model=ReportAccepted,
        responses={
            200: {"model": DuplicatesOffered, "description": "Possible duplicates, not filed"},
            **error_responses(400, 409, 413, 422, 429, 503),
        },
    )
    async def report_issue(
        body: ReportIn, request: Request, idempotency_key: IdempotencyKey = None
    ) -> Any:
        """Report a problem or request a service. 202 means the report is durably in Kafka."""
        return await file_report(body, client_of(request), idempotency_key)

    @router.get(
        "/duplicates", response_model=DuplicatesOffered, responses=error_responses(400, 422, 503)
    )
    async def possible_duplicates(
        category: Annotated[str, Query(min_length=1, max_length=64)],
        node_id: Annotated[str, Query(min_length=1, max_length=200)],
        lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
        lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    ) -> DuplicatesOffered:
        """Open reports of this category at the same compound or near the point."""
        found = await intake.nearby.open_reports(category, node_id, lat, lon, QUERY_FIELDS)
        return DuplicatesOffered(candidates=found)

    return router
