"""The parts every service is wired from, so each composition root only adds its own."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType

import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.events import EventPayload
from shared.http.app import create_service_app
from shared.http.errors import ErrorMap
from shared.http.stopping import mark_stopping
from shared.kafka.broker import make_broker
from shared.kafka.consumer import BatchHandler, Handler, subscribe
from shared.kafka.dead_letters import DeadLetters
from shared.kafka.fetching import FetchLoop
from shared.kafka.publisher import EventPublisher
from shared.logging import configure_logging
from shared.mongo import make_client
from shared.reference import DEPARTMENTS_FILE, load_departments
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from shared.task_dump import dump_tasks_on_sigusr1
from shared.topics import Topic, catalogue


def platform_topics(settings: Settings) -> list[Topic]:
    """The whole catalogue, with one task topic per department of the reference data."""
    return catalogue(load_departments(settings.config_dir / DEPARTMENTS_FILE))


@dataclass
class ServiceParts:
    service: str
    settings: Settings
    broker: KafkaBroker
    publisher: EventPublisher
    dead_letters: DeadLetters
    mongo: AsyncMongoClient
    db: AsyncDatabase
    errors: ErrorMap  # outages to 503, and the service's domain refusals (``errors.refuse``)
    # topic -> (the payload models its consumer handles, a description): for the AsyncAPI
    consumed: dict[str, tuple[list[type[EventPayload]], str]] = field(default_factory=dict)
    # the consumers, started once the broker is and stopped (drained) before it
    consumers: list[FetchLoop] = field(default_factory=list)

    def consume(
        self,
        topic: str,
        handlers: Mapping[type[EventPayload], Handler],
        description: str = "",
        batch_size: int = 100,
        batch_handlers: Mapping[type[EventPayload], BatchHandler] | None = None,
        streaming: bool = False,
    ) -> None:
        models = list(dict.fromkeys((*handlers, *(batch_handlers or {}))))
        self.consumed[topic] = (models, description)
        consumer = subscribe(
            self.settings,
            service=self.service,
            topic=topic,
            handlers=handlers,
            dead_letters=self.dead_letters,
            batch_size=batch_size,
            batch_handlers=batch_handlers,
            streaming=streaming,
        )
        self.consumers.append(consumer)

    def app(
        self,
        *,
        title: str,
        description: str,
        routers: list[APIRouter],
        prepare_db: Callable[[], Awaitable[None]],
        body_limits: Mapping[str, int] | None = None,
    ) -> FastAPI:
        runtime = ServiceRuntime(
            settings=self.settings,
            service=self.service,
            broker=self.broker,
            mongo=self.mongo,
            topics=platform_topics(self.settings),
            prepare_db=prepare_db,
            consumers=self.consumers,
        )
        app = create_service_app(
            runtime,
            title=title,
            description=description,
            routers=routers,
            body_limits=body_limits,
            errors=self.errors,
        )
        app.state.parts = self
        return app


def build_parts(settings: Settings, service: str) -> ServiceParts:
    broker = make_broker(settings, service)
    publisher = EventPublisher(
        broker, service=service, prefix=settings.topic_prefix, timeout_s=settings.publish_timeout_s
    )
    dead_letters = DeadLetters(publisher, service)
    publisher.declare(dead_letters.topic, None, f"Records {service} could not process")
    mongo = make_client(settings.mongodb_url, app_name=f"linli-{service}")
    return ServiceParts(
        service=service,
        settings=settings,
        broker=broker,
        publisher=publisher,
        dead_letters=dead_letters,
        mongo=mongo,
        db=mongo[settings.database_name(service)],
        errors=ErrorMap(settings.retry_after_s),
    )


def run_alongside(
    app: FastAPI,
    *work: Callable[[], Awaitable[object]],
    close: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """While the app serves (inside its lifespan so far): each ``work`` runs as a task, and
    on the way out the tasks are cancelled and awaited, then ``close`` runs."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        async with inner(a):
            tasks = [asyncio.create_task(w(), name=getattr(w, "__name__", None)) for w in work]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with suppress(asyncio.CancelledError, Exception):
                        await task
                if close is not None:
                    await close()

    app.router.lifespan_context = lifespan


def settle_collector(app: FastAPI) -> None:
    """For a service process: what is loaded by now (modules, models, reference data, the app)
    lives as long as the process, so it is frozen out of the garbage collector's passes, or
    each full collection walks it all and stalls the event loop for ~100 ms (measured in
    notify's latency bench). Once the service is up, the clients, connections and consumers
    made while starting are frozen too, and the young generation is collected less often
    (fewer short-lived objects promoted): together these took the 25-40 ms full collections
    out of intake's answers under load."""
    gc.collect()
    gc.freeze()

    async def freeze_when_started() -> None:
        # readiness is a plain flag the shared runtime sets; a few polls while starting
        while not app.state.runtime.readiness.started:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        gc.collect()
        gc.freeze()
        gc.set_threshold(5_000, 10, 10)

    run_alongside(app, freeze_when_started)


def serve(service: str, create_app: Callable[[Settings], FastAPI]) -> None:
    """``python -m services.<name>``: structured logs, then uvicorn until SIGTERM."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, service)
    app = create_app(settings)
    settle_collector(app)
    run_alongside(app, dump_tasks_on_sigusr1)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.port_of(service),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=25,
    )
    _StreamsEndingServer(config).run()


class _StreamsEndingServer(uvicorn.Server):
    """Uvicorn that tells the app it is stopping (``shared.http.stopping``) as soon as a
    SIGTERM or SIGINT arrives, so that live streams end instead of holding the shutdown."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        mark_stopping(self.config.app)
        super().handle_exit(sig, frame)
