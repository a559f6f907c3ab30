"""The web console's composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pymongo.asynchronous.database import AsyncDatabase

from services.web import (
    cases_http,
    fund_http,
    http,
    invalid_urls,
    live_http,
    operator_http,
    photos_http,
)
from services.web.backends import Backends, parse_service_urls
from services.web.consult.wiring import consult_routers
from services.web.domain.accounts import LockoutRule, SessionRule
from services.web.live import LiveBoards
from services.web.pages import Pages
from services.web.public.wiring import public_side
from services.web.residents.wiring import install as install_residents
from services.web.residents.wiring import residents_for
from services.web.security import SecurityHeaders
from services.web.staff import Staff
from services.web.store import WebStore
from shared.events import utcnow
from shared.reference import load_reference
from shared.service import build_parts
from shared.settings import SERVICE_PORTS, Settings

STATIC = Path(__file__).parent / "static"


def staff_for(
    settings: Settings, db: AsyncDatabase, clock: Callable[[], datetime] = utcnow
) -> Staff:
    """The people side, as the console and ``linli web users`` use it."""
    return Staff(
        WebStore(db),
        lockout=LockoutRule(
            settings.web_lockout_failures, timedelta(minutes=settings.web_lockout_min)
        ),
        sessions=SessionRule(
            timedelta(minutes=settings.web_session_idle_min),
            timedelta(hours=settings.web_session_absolute_h),
        ),
        token_secret=settings.web_token_secret.get_secret_value(),
        token_ttl=timedelta(seconds=settings.web_token_ttl_s),
        clock=clock,
    )


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    settings = settings or Settings()
    reference = load_reference(settings.config_dir)
    parts = build_parts(settings, "web")
    staff = staff_for(settings, parts.db, clock)
    store = staff.store
    ports = {s: settings.port_of(s) for s in SERVICE_PORTS if s != "web"}
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0))
    backends = Backends(client, parse_service_urls(settings.web_service_urls, ports))
    pages = Pages(staff, backends, reference, secure_cookie=settings.web_cookie_secure)
    pages.kafka_bootstrap, pages.topic_prefix = settings.kafka_servers, settings.topic_prefix
    public = public_side(parts, pages)
    boards = LiveBoards(
        per_person=settings.web_live_per_person,
        streams=settings.web_live_streams,
        poll_s=settings.web_live_poll_s,
        stream_s=settings.web_live_stream_s,
    )
    residents, resident_routers, body_limits = residents_for(settings, parts.db, pages, clock)
    app = parts.app(
        title="Linli web",
        description="The staff console: sign-in, case queue and actions, fund desk.",
        routers=[
            http.router(pages),
            cases_http.router(pages),
            fund_http.router(pages),
            operator_http.router(pages),
            live_http.router(pages, boards),
            photos_http.router(pages, settings.intake_max_photo_bytes),
            *public.routers,
            *resident_routers,
            *consult_routers(pages, residents),
        ],
        prepare_db=store.prepare,
        body_limits=body_limits,
    )
    http.install_refusals(app, pages)
    install_residents(app, residents)
    invalid_urls.install(app, pages, residents)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    app.state.staff, app.state.pages, app.state.public = staff, pages, public
    app.state.boards = boards
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with inner(app_):
            tasks = public.start()
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await client.aclose()

    app.router.lifespan_context = lifespan
    return app
