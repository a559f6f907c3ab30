"""The FastAPI application every service is served by: health, readiness, metrics, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.http.docs_pages import add_docs_pages
from shared.http.errors import ErrorMap, install_error_handlers
from shared.http.middleware import LimitAndMeasure
from shared.http.schema import declare_error_answers
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


def _declare_errors_in_openapi(app: FastAPI) -> None:
    """The OpenAPI document, once made, declares the errors every route can answer."""
    make = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = declare_error_answers(make())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: list[APIRouter],
    body_limits: Mapping[str, int] | None = None,
    errors: ErrorMap | None = None,
) -> FastAPI:
    """``body_limits``: larger (or smaller) body limits for path prefixes, e.g. uploads;
    ``errors``: the service's error mapping (outages, plus its domain refusals)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()

    # FastAPI's native OpenTelemetry is off: the platform measures with Prometheus (/metrics),
    # and its per-request "is a provider configured?" probe cost ~2 % of a request's CPU
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,  # replaced by pages whose files the service serves itself
        redoc_url=None,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.runtime = runtime
    add_docs_pages(app)
    install_error_handlers(app, errors or ErrorMap(runtime.settings.retry_after_s))
    app.include_router(_ops_router(runtime))
    for router in routers:
        app.include_router(router)
    _declare_errors_in_openapi(app)
    app.add_middleware(
        LimitAndMeasure,
        service=runtime.service,
        max_body_bytes=runtime.settings.max_body_bytes,
        limits=body_limits or {},
    )
    return app
