"""Pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware on the hot path): request
metrics, and a body-size limit that holds for chunked uploads too."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from shared.http.errors import error_body
from shared.metrics import HTTP_REQUESTS, HTTP_SECONDS

Scope = dict[str, Any]


async def _read_at_most(receive, limit: int) -> bytes | None:
    """The whole body of a request without Content-Length, or None past ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _disconnected() -> dict:
    return {"type": "http.disconnect"}


def replay(body: bytes, then=_disconnected):
    """An ASGI ``receive`` that gives the already-read ``body`` once, then defers to ``then``
    (by default: the client is gone)."""
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


async def _send_413(send, limit: int) -> None:
    body = json.dumps(
        error_body(
            {
                "field": "header.content-length",
                "code": "too_large",
                "message": f"request body over {limit} bytes",
            }
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class LimitAndMeasure:
    def __init__(
        self, app, *, service: str, max_body_bytes: int, limits: Mapping[str, int] | None = None
    ):
        """``limits``: body limits for path prefixes (longest prefix wins), else the default."""
        self.app = app
        self.service = service
        self.default_limit = max_body_bytes
        self.limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))
        self._series: dict[tuple[str, int], tuple[Any, Any]] = {}  # the metrics' label children

    def _limit_for(self, path: str) -> int:
        return next((n for prefix, n in self.limits if path.startswith(prefix)), self.default_limit)

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _send_413(send, limit)
            self._count(scope, 413, 0.0)
            return
        if declared is None and scope["method"] in ("POST", "PUT", "PATCH"):
            body = await _read_at_most(receive, limit)
            if body is None:
                await _send_413(send, limit)
                self._count(scope, 413, 0.0)
                return
            receive = replay(body)
        started = time.perf_counter()
        status = {"code": 500}

        async def measured_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, measured_send)
        finally:
            self._count(scope, status["code"], time.perf_counter() - started)

    def _count(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", "unmatched")
        series = self._series.get((path, status))
        if series is None:  # looking labels up costs more than counting: once per series
            series = self._series[(path, status)] = (
                HTTP_REQUESTS.labels(self.service, path, str(status)),
                HTTP_SECONDS.labels(self.service, path),
            )
        series[0].inc()
        series[1].observe(seconds)
