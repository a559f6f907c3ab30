"""Consult's composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from functools import partial

from fastapi import FastAPI

from services.consult.application import build_consult
from services.consult.http import build_router, refusals
from services.consult.listing_http import listing_router
from services.consult.store import ConsultStore
from shared.events import utcnow
from shared.logging import get_logger
from shared.reference import load_reference
from shared.service import build_parts, run_alongside
from shared.settings import Settings

log = get_logger("linli.consult")
ROLL_MAX_BYTES = 2 * 1024 * 1024  # a roll CSV: up to 20,000 lines of ~60 bytes, with room


async def _every(seconds: float, work: Callable) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception as exc:
            log.warning("consult_tick_failed", error=repr(exc))


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    settings = settings or Settings()
    reference = load_reference(settings.config_dir)
    parts = build_parts(settings, "consult")
    store = ConsultStore(parts.db)
    consult = build_consult(
        store,
        parts.publisher,
        reference.tree,
        server_key=settings.consult_secret.get_secret_value(),
        resident_secret=settings.resident_secret.get_secret_value(),
        settle_s=settings.consult_close_settle_s,
        clock=clock,
        staff_secret=settings.web_token_secret.get_secret_value(),
    )
    refusals(parts.errors)
    app = parts.app(
        title="Linli consult",
        description="Consultations, secret and verifiable polls, three-party resolutions.",
        routers=[build_router(consult), listing_router(consult)],
        prepare_db=store.prepare,
        body_limits={"/api/v1/consult/rolls": ROLL_MAX_BYTES},
    )
    app.state.consult = consult

    tick_s = settings.consult_tick_s
    run_alongside(app, *([partial(_every, tick_s, consult.tick)] if tick_s > 0 else []))
    return app
