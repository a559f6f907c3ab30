"""Intake's HTTP adapter: the native reporting API under /api/v1."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from services.intake.domain import Contact, ReportDraft, ReportRejected
from services.intake.domain.media import check_photo
from services.intake.idempotency import IdempotencyRecords, body_fingerprint, issue_id_for_key
from services.intake.limits import RateLimiter
from services.intake.media import MediaStore
from services.intake.reports import ReportService
from shared.http.errors import ApiError, ErrorMap
from shared.http.schema import error_responses

FileReport = Callable[["ReportIn", str, str | None], Awaitable[Response]]
NATIVE_FIELDS = ("body.node_id", "body.address", "body.lat", "body.lon")
ISSUES_PATH = "/api/v1/issues"
Attributes = dict[
    Annotated[str, Field(min_length=1, max_length=64)],
    str | float | list[Annotated[str, Field(max_length=255)]],
]


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no coercion: "1.5" is no number

    name: str | None = Field(None, max_length=100, pattern=r"^[^<>&]*$")
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ()-]{5,20}$")
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    language: Literal["zh-CN", "en"] = "zh-CN"


class ReportIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # no coercion: "1.5" is no latitude, true no number
        json_schema_extra={
            "examples": [
                {
                    "category": "streetlight-out",
                    "node_id": "sz.tongjiang.niuerqiao.hongqi",
                    "description": "红旗巷路灯不亮 / The lane light at the gate is out",
                    "contact": {"phone": "13800000000", "language": "zh-CN"},
                }
            ]
        },
    )

    category: str = Field(min_length=1, max_length=64, description="Category code")
    node_id: str | None = Field(
        None, min_length=1, max_length=200, description="Place in the tree (or address/lat+lon)"
    )
    address: str | None = Field(None, min_length=1, max_length=500)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    description: str = Field(min_length=1, max_length=4000)
    attributes: Attributes = Field(
        default_factory=dict, max_length=50, description="Answers to the category's questions"
    )
    media_url: str | None = Field(
        None, max_length=2000, pattern=r"^https?://[^\s<>]+$", description="From POST /media"
    )
    contact: ContactIn | None = Field(None, description="Optional; goes to notify alone")
    if_duplicate: Literal["file", "offer"] = Field(
        "file",
        description="offer: when open reports of the category are at the same place, answer "
        "200 with them instead of filing (follow one with POST /issues/{id}/followers)",
    )


class ReportAccepted(BaseModel):
    issue_id: str
    status: Literal["accepted"] = "accepted"
    resident_ref: str = Field(description="Your pseudonymous reference (your inbox)")
    resident_token: str = Field(description="Bearer token to read your reports and inbox")


class Duplicate(BaseModel):
    issue_id: str
    category: str | None = None
    node_id: str | None = None
    status: str
    reported_at: str | None = None
    description: str = ""


class DuplicatesOffered(BaseModel):
    status: Literal["possible_duplicates"] = "possible_duplicates"
    candidates: list[Duplicate]


class FollowIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # no coercion: "1.5" is no number

    contact: ContactIn | None = None


class HistoryEntry(BaseModel):
    status: str
    at: str | None = None
    note: str | None = None


class IssueView(BaseModel):
    issue_id: str
    category: str
    node_id: str
    description: str | None = None
    attributes: dict[str, Any] = {}
    media_url: str | None = None
    status: str
    open311_status: Literal["open", "closed"]
    status_note: str | None = None
    owner: dict | None = None
    reported_at: str | None = None
    updated_at: str | None = None
    ack_due: str | None = None
    resolve_due: str | None = None
    history: list[HistoryEntry] = []


class IssueList(BaseModel):
    issues: list[IssueView]


class MediaStored(BaseModel):
    media_id: str
    media_url: str
    content_type: str
    size: int


def _rejected(exc: ReportRejected) -> ApiError:
    return ApiError(400, exc.code, exc.message, exc.field)


def refusals(errors: ErrorMap) -> None:
    """How intake's domain refusals answer over HTTP when a route lets one through."""
    errors.refuse(ReportRejected, _rejected)


def _bearer(authorization: str) -> str:
    return authorization.removeprefix("Bearer ").strip()


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def build_router(
    reports: ReportService,
    idempotency: IdempotencyRecords,
    media: MediaStore,
    limiter: RateLimiter,
    max_photo_bytes: int,
) -> tuple[APIRouter, FileReport]:
    """The native API's routes, and the function that files a validated report (for the
    fast lane, ``services.intake.fast_lane``)."""
    router = APIRouter(prefix="/api/v1", tags=["reports"])

    def draft_of(body: ReportIn) -> ReportDraft:
        if body.node_id is None and body.address is None and body.lat is None:
            raise ApiError(422, "missing", "give node_id, address, or lat and lon", "body.node_id")
        place = reports.places.resolve(
            node_id=body.node_id,
            address=body.address,
            lat=body.lat,
            lon=body.lon,
            fields=NATIVE_FIELDS,
        )
        contact = Contact(**body.contact.model_dump()) if body.contact else None
        return ReportDraft(
            body.category,
            place.node.id,
            body.description,
            contact,
            attributes=dict(body.attributes),
            address=body.address,
            lat=body.lat,
            lon=body.lon,
            media_url=body.media_url,
        )

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
        body: ReportIn,
        request: Request,
        idempotency_key: Annotated[
            str | None,
            Header(
                min_length=1,
                max_length=200,
                pattern=r"^[\x21-\x7e]+$",
                description="Same key and body: the first answer again; other body: 409",
            ),
        ] = None,
    ) -> Any:
        """Report a problem or request a service. 202 means the report is durably in Kafka."""
        return await file_report(body, _client(request), idempotency_key)

    async def file_report(body: ReportIn, client: str, idempotency_key: str | None) -> Response:
        """What POST /issues does once the request is validated (also the fast lane's)."""
        limiter.check(client)
        fingerprint = ""
        if idempotency_key is not None:
            fingerprint = body_fingerprint(body.model_dump(mode="json"))
            seen = await idempotency.find(idempotency_key)
            if seen is not None:
                return _replay(seen, fingerprint)
        try:
            draft = draft_of(body)
            if body.if_duplicate == "offer":
                candidates = await reports.possible_duplicates(
                    body.category, draft.node_id, body.lat, body.lon
                )
                if candidates:
                    return JSONResponse(DuplicatesOffered(candidates=candidates).model_dump())
            # same key and body -> same id, so a retried publish is dropped downstream; the
            # body is part of it so that a reused key can never silently replace a report
            issue_id = (
                issue_id_for_key(f"{idempotency_key}:{fingerprint}") if idempotency_key else None
            )
            submitted = await reports.submit(draft, issue_id)
        except ReportRejected as exc:
            raise _rejected(exc) from exc
        answer = {  # ReportAccepted's fields, built directly on this hot path
            "issue_id": submitted.issue_id,
            "status": "accepted",
            "resident_ref": submitted.resident_ref,
            "resident_token": submitted.resident_token,
        }
        if idempotency_key is not None:
            stored = await idempotency.remember(idempotency_key, fingerprint, 202, answer)
            return _replay(stored, fingerprint, first=True)
        return JSONResponse(answer, status_code=202)

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
        try:
            found = await reports.possible_duplicates(category, node_id, lat, lon)
        except ReportRejected as exc:
            raise ApiError(400, exc.code, exc.message, f"query.{exc.field}") from exc
        return DuplicatesOffered(candidates=found)

    @router.post(
        "/issues/{issue_id}/followers",
        status_code=201,
        response_model=ReportAccepted,
        responses=error_responses(400, 404, 422, 429, 503),
    )
    async def follow_issue(issue_id: str, body: FollowIn, request: Request) -> ReportAccepted:
        """Follow an open report instead of filing a duplicate; you get a token to read it."""
        limiter.check(_client(request))
        contact = Contact(**body.contact.model_dump()) if body.contact else None
        submitted = await reports.follow(issue_id, contact)
        return ReportAccepted(
            issue_id=submitted.issue_id,
            resident_ref=submitted.resident_ref,
            resident_token=submitted.resident_token,
        )

    @router.get(
        "/issues/{issue_id}", response_model=IssueView, responses=error_responses(404, 422, 503)
    )
    async def read_issue(issue_id: str, authorization: str = Header("")) -> IssueView:
        """The reporter's (or a follower's) view with the full history and public notes
        (Authorization: Bearer <resident_token>)."""
        return IssueView(**await reports.view(issue_id, _bearer(authorization)))

    @router.get(
        "/residents/{resident_ref}/issues",
        response_model=IssueList,
        responses=error_responses(401, 422, 503),
    )
    async def my_issues(resident_ref: str, authorization: str = Header("")) -> IssueList:
        """Every report a resident filed or follows, newest first, with history and notes."""
        found = await reports.of_resident(resident_ref, _bearer(authorization))
        return IssueList(issues=[IssueView(**doc) for doc in found])

    @router.post(
        "/media",
        status_code=201,
        response_model=MediaStored,
        responses=error_responses(400, 413, 422, 429, 503),
    )
    async def upload_photo(
        request: Request, file: Annotated[UploadFile, File(description="JPEG, PNG or WebP")]
    ) -> MediaStored:
        """Upload a photo; the type is judged by its bytes. Use the media_url in a report."""
        limiter.check(_client(request))
        data = await file.read(max_photo_bytes + 1)
        try:
            kind = check_photo(data, max_photo_bytes, "body.file")
        except ReportRejected as exc:
            status = 413 if exc.code == "too_large" else 400
            raise ApiError(status, exc.code, exc.message, exc.field) from exc
        media_id = await media.save(data, kind)
        url = str(request.url_for("read_photo", media_id=media_id))
        return MediaStored(media_id=media_id, media_url=url, content_type=kind, size=len(data))

    @router.get(
        "/media/{media_id}",
        name="read_photo",
        response_class=Response,
        responses={
            200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
            **error_responses(404, 503),
        },
    )
    async def read_photo(media_id: str) -> Response:
        """A photo uploaded with a report."""
        doc = await media.get(media_id)
        if doc is None:
            raise ApiError(404, "not_found", f"no photo {media_id}", "path.media_id")
        return Response(
            bytes(doc["data"]),
            media_type=doc["content_type"],
            headers={
                "Cache-Control": "public, max-age=86400, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router, file_report


def _replay(record: dict, fingerprint: str, first: bool = False) -> JSONResponse:
    if record["fingerprint"] != fingerprint:
        raise ApiError(
            409,
            "idempotency_conflict",
            "this Idempotency-Key was already used with a different body",
            "header.idempotency-key",
        )
    headers = {} if first else {"Idempotent-Replayed": "true"}
    return JSONResponse(record["response"], status_code=record["status"], headers=headers)
