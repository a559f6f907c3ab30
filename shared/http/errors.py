"""The platform's error format, used by every JSON API.

    HTTP/1.1 400
    {"errors": [{"field": "body.category", "code": "unknown", "message": "no such category"}]}

``field`` names the input (``body.<path>``, ``query.<name>``, ``header.<name>``) or is null
for errors not tied to one field. ``code`` is stable for programs; ``message`` is for people.
A 503 also carries ``Retry-After``. No response ever carries a stack trace.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.logging import get_logger

log = get_logger("linli.http")


class ApiError(Exception):
    """Raise from a route to answer with the error format."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


class Unavailable(ApiError):
    """A dependency (Kafka, the database) is down: 503 with Retry-After; nothing was accepted."""

    def __init__(self, what: str, retry_after_s: int):
        super().__init__(
            503,
            "unavailable",
            f"{what} is unavailable; nothing was accepted, retry later",
            headers={"Retry-After": str(retry_after_s)},
        )


def error_body(*errors: dict[str, Any]) -> dict[str, Any]:
    return {"errors": list(errors)}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers=None
) -> JSONResponse:
    return JSONResponse(
        error_body({"field": field, "code": code, "message": message}),
        status_code=status,
        headers=headers,
    )


def _field_of(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_of(e["loc"]), "code": e["type"], "message": e["msg"]}
            for e in exc.errors()
        ]
        return JSONResponse(error_body(*errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        field = None
        if exc.status_code == 400 and "body" in str(exc.detail):  # FastAPI's unparsable body
            code, field = "malformed_body", "body"
        return error_response(exc.status_code, code, str(exc.detail), field, exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", path=request.url.path, exc_info=exc)
        return error_response(500, "internal", "internal error; it has been logged")
