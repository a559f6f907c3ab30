"""The FastAPI application every service is served by: health, readiness, metrics, limits."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.http.errors import error_response, install_error_handlers
from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS
from shared.runtime import ServiceRuntime


def _ops_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime.service}

    @router.get(
        "/readyz",
        summary="Readiness: started, Kafka and the database answer",
        responses={503: {"description": "Not ready; the body says which dependency"}},
    )
    async def readyz() -> JSONResponse:
        r = runtime.readiness
        body = {
            "ready": r.ready,
            "service": runtime.service,
            "started": r.started,
            "kafka": r.kafka,
            "mongodb": r.mongodb,
            "detail": r.detail,
        }
        headers = None if r.ready else {"Retry-After": str(runtime.settings.retry_after_s)}
        return JSONResponse(body, status_code=200 if r.ready else 503, headers=headers)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class MeasureAndLimit:
    """Body-size limit (by Content-Length, per path prefix) and request metrics, as a plain
    ASGI middleware (Starlette's BaseHTTPMiddleware costs an extra task per request)."""

    def __init__(self, app, *, service: str, default_limit: int, limits: Mapping[str, int]):
        self.app = app
        self.service = service
        self.default_limit = default_limit
        self.limits = sorted(limits.items(), key=lambda item: -len(item[0]))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = next((n for prefix, n in self.limits if path.startswith(prefix)), None)
        limit = self.default_limit if limit is None else limit
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                response = error_response(
                    413, "too_large", f"request body over {limit} bytes", "header.content-length"
                )
                await response(scope, receive, send)
                return
        status = 500
        started = time.perf_counter()

        async def send_and_note(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(self.service, route, str(status)).inc()
            HTTP_SECONDS.labels(self.service, route).observe(time.perf_counter() - started)


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: list[APIRouter],
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """``body_limits``: larger (or smaller) body limits for path prefixes, e.g. uploads."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(_ops_router(runtime))
    for router in routers:
        app.include_router(router)
    app.add_middleware(
        MeasureAndLimit,
        service=runtime.service,
        default_limit=runtime.settings.max_body_bytes,
        limits=body_limits or {},
    )
    return app
