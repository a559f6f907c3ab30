"""Open311 GeoReport v2 service requests under /open311/v2: file one (form-encoded, with an
API key), search them, read one, and a batch service's token."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.intake.application import Intake
from services.intake.application.reading import Reading
from services.intake.domain import open311 as spec
from services.intake.http.limits import RateLimiter
from services.intake.http.open311_docs import POST_BODY, open311_responses
from services.intake.http.open311_form import (
    Open311Error,
    in_format,
    one,
    request_command,
    service_of,
)
from services.intake.http.open311_render import render
from services.intake.http.open311_routes import PREFIX, Format, Jurisdiction, Locale
from services.intake.keys import ApiKeys
from shared.http.errors import ErrorMap

Listed = Annotated[str | None, Query(description="Comma separated")]


async def filed(
    intake: Intake, keys: ApiKeys, limiter: RateLimiter, request: Request, fmt: str
) -> Response:
    """A request filed from its form, once its API key and the rate allow."""
    try:
        form = await request.form(max_files=0, max_fields=200)
    except Exception as exc:  # malformed or unsupported body
        raise Open311Error(400, "body", "a form-encoded body is expected") from exc
    api_key = one(form, "api_key", 200) or request.query_params.get("api_key")
    if not api_key:
        raise Open311Error(403, "api_key", "an API key is required")
    if await keys.name_of(api_key) is None:
        raise Open311Error(403, "api_key", "unknown API key")
    limiter.check(request.client.host if request.client else "unknown", api_key)
    category = service_of(form, intake.categories)
    batch = category.open311_type == "batch"
    done = await intake.filing.file_request(request_command(form, category), batch=batch)
    body: dict[str, Any] = (
        {"token": done.token} if batch else {"service_request_id": done.service_request_id}
    )
    notice = category.notice.get("zh-CN") if category.notice else None
    body.update(service_notice=notice, account_id=None)
    return render(fmt, "service_requests", [body], status=201)


async def found(reading: Reading, request: Request, fmt: str, locale: str | None) -> Response:
    params = dict(request.query_params.items())
    views = await reading.requests(params, spec.language(locale))
    return render(fmt, "service_requests", views)


async def one_request(reading: Reading, request_id: str, fmt: str, locale: str | None) -> Response:
    view = await reading.request(request_id, spec.language(locale))
    return render(fmt, "service_requests", [view])


async def of_token(reading: Reading, token: str, fmt: str) -> Response:
    request_id = await reading.request_of_token(token)
    body = [{"service_request_id": request_id, "token": token}]
    return render(fmt, "service_requests", body)


def request_routes(
    intake: Intake, keys: ApiKeys, limiter: RateLimiter, errors: ErrorMap
) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["open311"])
    answer = partial(in_format, errors)
    reading = intake.reading

    @router.post(
        "/requests.{fmt}",
        responses=open311_responses(400, 403, 404, 429, 503),
        openapi_extra=POST_BODY,
    )
    async def post_request(request: Request, fmt: Format) -> Response:
        """Create a service request (form-encoded, with an API key)."""
        return await answer(fmt, filed(intake, keys, limiter, request, fmt))

    @router.get("/requests.{fmt}", responses=open311_responses(400, 404, 503))
    async def get_requests(
        request: Request,
        fmt: Format,
        service_request_id: Listed = None,
        service_code: Listed = None,
        start_date: Annotated[str | None, Query(description="ISO-8601")] = None,
        end_date: Annotated[str | None, Query(description="ISO-8601, ≤90 days after")] = None,
        status: Annotated[str | None, Query(description="open, closed or both")] = None,
        page: Annotated[str | None, Query(description="1-based page")] = None,
        page_size: Annotated[str | None, Query(description="At most 1000")] = None,
        locale: Locale = None,
        jurisdiction_id: Jurisdiction = None,
    ) -> Response:
        """Service requests: by ids, or by service, window (default the last 90 days) and
        status; newest first, at most 1000 (page/page_size page on)."""
        return await answer(fmt, found(reading, request, fmt, locale))

    @router.get("/requests/{service_request_id}.{fmt}", responses=open311_responses(404, 503))
    async def get_request(
        service_request_id: str,
        fmt: Format,
        locale: Locale = None,
        jurisdiction_id: Jurisdiction = None,
    ) -> Response:
        """One service request (a list of one, as the spec says)."""
        return await answer(fmt, one_request(reading, service_request_id, fmt, locale))

    @router.get("/tokens/{token}.{fmt}", responses=open311_responses(404, 503))
    async def get_token(token: str, fmt: Format, jurisdiction_id: Jurisdiction = None):
        """The request id behind a batch service's token, once it is recorded."""
        return await answer(fmt, of_token(reading, token, fmt))

    return router
