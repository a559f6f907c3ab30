"""Open311 GeoReport v2 under /open311/v2: discovery and services (the catalogue), then
requests and tokens; each in JSON and XML, errors as the spec's list of ``{code,
description}`` (``open311_form.in_format``)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from services.intake.application import Intake
from services.intake.domain import open311 as spec
from services.intake.http.open311_docs import open311_responses
from services.intake.http.open311_form import in_format
from services.intake.http.open311_render import render
from shared.http.errors import ErrorMap

PREFIX = "/open311/v2"
Format = Annotated[str, Path(description="json or xml")]
Locale = Annotated[str | None, Query(description="zh-CN (default) or en")]
Jurisdiction = Annotated[str | None, Query(description="Accepted and ignored: one jurisdiction")]


def catalogue_routes(intake: Intake, started: datetime, errors: ErrorMap) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["open311"])
    answer = partial(in_format, errors)
    reading = intake.reading

    async def discovery_of(request: Request, fmt: str) -> Response:
        base = str(request.base_url).rstrip("/") + PREFIX + "/"
        return render(fmt, "discovery", spec.discovery(base, started, "Linli intake operators"))

    @router.get("/discovery.{fmt}", responses=open311_responses(404))
    async def discovery(request: Request, fmt: Format) -> Response:
        """Service discovery: where this endpoint is, what it speaks."""
        return await answer(fmt, discovery_of(request, fmt))

    async def services_of(fmt: str, locale: str | None) -> Response:
        return render(fmt, "services", reading.services(spec.language(locale)))

    @router.get("/services.{fmt}", responses=open311_responses(404))
    async def services(fmt: Format, locale: Locale = None, jurisdiction_id: Jurisdiction = None):
        """Every service (category) that can be requested."""
        return await answer(fmt, services_of(fmt, locale))

    async def definition_of(code: str, fmt: str, locale: str | None) -> Response:
        body = reading.service(code, spec.language(locale))
        return render(fmt, "service_definition", body)

    @router.get("/services/{service_code}.{fmt}", responses=open311_responses(404))
    async def service_definition(
        service_code: str, fmt: Format, locale: Locale = None, jurisdiction_id: Jurisdiction = None
    ) -> Response:
        """The extra attributes a service asks for."""
        return await answer(fmt, definition_of(service_code, fmt, locale))

    return router
