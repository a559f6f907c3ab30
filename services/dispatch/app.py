"""Dispatch's composition root."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from services.dispatch.actions import KafkaActions
from services.dispatch.cases import TRANSITION_BY_NAME, Dispatcher
from services.dispatch.clock import DevClock
from services.dispatch.domain.machine import Rules
from services.dispatch.feedback import Feedback
from services.dispatch.http import refusals, router
from services.dispatch.public import build_public_router
from services.dispatch.rule_files import load_calendar, load_policy, load_routing
from services.dispatch.store import CaseStore
from services.dispatch.timers import TimerWheel
from services.dispatch.wheel import WheelStore
from shared.events import DepartmentTaskV1, IssueAssignedV1, IssueReportedV1, utcnow
from shared.events.dispatch import DepartmentActionOutcomeV1, DepartmentActionV1
from shared.events.lifecycle import IssueRatedV1
from shared.reference import load_reference
from shared.service import build_parts
from shared.settings import Settings
from shared.topics import (
    DEPT_ACTIONS,
    ISSUES_FEEDBACK,
    ISSUES_LIFECYCLE,
    ISSUES_REPORTED,
    dept_outcomes,
    dept_tasks,
)

ROUTE_BATCH = 1000  # reports routed together: one bulk insert, their events published at once


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow) -> FastAPI:
    settings = settings or Settings()
    dev_clock = (
        None if settings.env == "production" else DevClock(clock, settings.dev_clock_offset_s)
    )
    clock = dev_clock or clock
    reference = load_reference(settings.config_dir)
    routing = load_routing(settings.config_dir / "routing.yaml", set(reference.departments))
    rules = Rules(
        reference.tree,
        frozenset(reference.departments),
        load_calendar(settings.config_dir / "holidays.yaml"),
        load_policy(settings.config_dir / "routing.yaml", set(reference.categories)),
    )
    parts = build_parts(settings, "dispatch")
    parts.publisher.declare(ISSUES_LIFECYCLE, IssueAssignedV1)
    for model in TRANSITION_BY_NAME.values():
        parts.publisher.declare(ISSUES_LIFECYCLE, model)
    for code in sorted(reference.departments):
        parts.publisher.declare(dept_tasks(code), DepartmentTaskV1)
        parts.publisher.declare(dept_outcomes(code), DepartmentActionOutcomeV1)
    store, wheel_store = CaseStore(parts.db), WheelStore(parts.db)
    dispatcher = Dispatcher(
        store=store,
        wheel=wheel_store,
        publisher=parts.publisher,
        reference=reference,
        routing=routing,
        rules=rules,
        clock=clock,
        replica=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
    )
    _consume(parts, dispatcher, store)
    refusals(parts.errors)
    wheel = TimerWheel(wheel_store, dispatcher, batch=settings.dispatch_timer_batch)
    app = parts.app(
        title="Linli dispatch",
        description="Routes issues to offices and departments and holds them to deadlines.",
        routers=[
            router(
                store,
                dispatcher,
                reference.tree,
                dev_clock,
                staff_secret=settings.web_token_secret.get_secret_value(),
            ),
            build_public_router(store, reference.tree),
        ],
        prepare_db=store.prepare,
    )
    app.state.dispatcher, app.state.timers, app.state.store = dispatcher, wheel, store
    app.state.wheel = wheel_store
    _run_timers(app, wheel, settings.dispatch_timer_interval_s)
    return app


def _consume(parts: Any, dispatcher: Dispatcher, store: CaseStore) -> None:
    """Reports are routed in batches; actions and ratings one by one."""
    parts.consume(
        ISSUES_REPORTED,
        {},
        batch_handlers={IssueReportedV1: dispatcher.route},
        batch_size=ROUTE_BATCH,
        streaming=True,
    )
    parts.consume(DEPT_ACTIONS, {DepartmentActionV1: KafkaActions(dispatcher, store).on_action})
    parts.consume(ISSUES_FEEDBACK, {IssueRatedV1: Feedback(dispatcher).on_rated})


def _run_timers(app: FastAPI, wheel: TimerWheel, interval_s: float) -> None:
    """The timer wheel runs beside the app while it serves (0: never; tests tick it)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with inner(app_):
            task = asyncio.create_task(wheel.run(interval_s)) if interval_s > 0 else None
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task

    app.router.lifespan_context = lifespan
