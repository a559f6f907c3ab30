"""How the residents' pages join the web service (called by its composition root)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import httpx
from fastapi import APIRouter, FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.web.domain.accounts import SessionRule
from services.web.pages import Pages, local_time
from services.web.residents import me_http, rate_http, report_http, signin_http
from services.web.residents.common import Residents, install_refusals
from services.web.residents.sessions import ResidentSessions
from shared.settings import Settings

FORM_SLACK = 64 * 1024  # the report form's text fields beside its photo
MAX_STREAMS = 2000  # live inboxes relayed at once by one web process (then 503, retry later)


def local_iso(text: str | None) -> str:
    """An ISO time from a service, as people here read it."""
    if not text:
        return ""
    try:
        return local_time(datetime.fromisoformat(text))
    except ValueError:
        return text


def residents_for(
    settings: Settings, db: AsyncDatabase, pages: Pages, clock: Callable[[], datetime]
) -> tuple[Residents, list[APIRouter], dict[str, int]]:
    """The residents' application object, its routers, and their body limits."""
    rule = SessionRule(
        timedelta(minutes=settings.web_session_idle_min),
        timedelta(hours=settings.web_session_absolute_h),
    )
    residents = Residents(
        pages, ResidentSessions(db, rule, clock), production=settings.env == "production",
        photo_max=settings.intake_max_photo_bytes,
    )  # fmt: skip
    residents.streams = httpx.AsyncClient(  # apart from page calls: streams stay open
        timeout=httpx.Timeout(10.0, read=None),
        limits=httpx.Limits(max_connections=MAX_STREAMS, max_keepalive_connections=0),
    )
    pages.env.filters["localiso"] = local_iso
    routers = [m.router(residents) for m in (signin_http, report_http, me_http, rate_http)]
    limits = {"/report": settings.intake_max_photo_bytes + FORM_SLACK}
    return residents, routers, limits


def install(app: FastAPI, residents: Residents) -> None:
    install_refusals(app, residents)
    app.state.residents = residents
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with inner(app_):
            try:
                yield
            finally:
                await residents.streams.aclose()

    app.router.lifespan_context = lifespan
