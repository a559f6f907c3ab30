"""Intake's HTTP adapters: the native reporting API under /api/v1 and Open311 GeoReport v2
under /open311/v2. Each route parses, calls the application (``services.intake.application``)
and maps its result; refusals and outages answer through the platform's error mapping."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from services.intake.application import Intake
from services.intake.http.filing_routes import FileReportFn, filing_routes, report_filer
from services.intake.http.limits import RateLimiter
from services.intake.http.media_routes import media_routes
from services.intake.http.models import ReportIn
from services.intake.http.open311_request_routes import request_routes
from services.intake.http.open311_routes import catalogue_routes
from services.intake.http.refusals import refusals
from services.intake.http.resident_routes import resident_routes
from services.intake.keys import ApiKeys
from shared.http.errors import ErrorMap


def routers(
    intake: Intake,
    *,
    limiter: RateLimiter,
    keys: ApiKeys,
    errors: ErrorMap,
    max_photo_bytes: int,
    started: datetime,
) -> tuple[list[APIRouter], FileReportFn]:
    """Every route, in the order the API documents them, and the function that files a
    validated report (the fast lane's, ``services.intake.http.fast_lane``)."""
    refusals(errors)
    file_report = report_filer(intake, limiter)
    native = APIRouter()
    for part in (
        filing_routes(intake, file_report),
        resident_routes(intake, limiter),
        media_routes(intake, limiter, max_photo_bytes),
    ):
        native.include_router(part)
    open311 = APIRouter()
    for part in (
        catalogue_routes(intake, started, errors),
        request_routes(intake, keys, limiter, errors),
    ):
        open311.include_router(part)
    return [native, open311], file_report


__all__ = ["ReportIn", "routers"]
