"""A lean lane for the hottest request, ``POST /api/v1/issues`` with a JSON body and no
Idempotency-Key: it validates the body with the same model (straight from the bytes) and files
it with the same function as the route, without FastAPI's per-request dependency machinery,
which cost about a third of a report's CPU. Anything else, and any body that does not validate,
goes the documented way (the route), so the answers, including every error, stay the route's.

It sits inside the platform's middleware (body limit, metrics) and answers errors raised while
filing (400, 422, 429, and 503 when Kafka or the database is down) with the app's own error
mapping."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from services.intake.http.filing_routes import ISSUES_PATH, FileReportFn
from services.intake.http.models import ReportIn
from shared.http.errors import ErrorMap, error_response
from shared.http.middleware import replay

Scope = dict[str, Any]


class _Route:
    """What the metrics middleware reads of a matched route."""

    path = ISSUES_PATH


async def _body(receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None  # the client went away
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class FastReportLane:
    def __init__(self, app, *, file_report: FileReportFn, errors: ErrorMap):
        self.app = app
        self._file = file_report
        self._errors = errors
        self._route = _Route()

    async def __call__(self, scope: Scope, receive, send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != ISSUES_PATH
            or scope.get("query_string")
        ):
            await self.app(scope, receive, send)
            return
        json_body = False
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                await self.app(scope, receive, send)  # its header rules are the route's
                return
            if name == b"content-type":
                json_body = value == b"application/json"
        if not json_body:
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            return
        try:
            report = ReportIn.model_validate_json(body)
        except ValidationError:
            await self.app(scope, replay(body, receive), send)  # the route's 422
            return
        scope["route"] = self._route
        client = scope.get("client")
        try:
            response = await self._file(report, client[0] if client else "unknown", None)
        except Exception as exc:
            answer = self._errors.answer(exc)
            if answer is None:
                raise
            response = error_response(
                answer.status, answer.code, answer.message, answer.field, answer.headers
            )
        await response(scope, receive, send)
