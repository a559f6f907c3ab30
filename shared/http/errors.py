"""The platform's error format, used by every JSON API.

    HTTP/1.1 400
    {"errors": [{"field": "body.category", "code": "unknown", "message": "no such category"}]}

``field`` names the input (``body.<path>``, ``query.<name>``, ``header.<name>``) or is null
for errors not tied to one field. ``code`` is stable for programs; ``message`` is for people.
A 503 also carries ``Retry-After``. No response ever carries a stack trace.

One mapping turns failures into answers for every service (:class:`ErrorMap`): the platform's
own (Kafka did not acknowledge a publish, the database is unreachable or timed out: 503 with
``Retry-After``, nothing accepted) and each service's domain refusals, which it registers with
``refuse`` (e.g. dispatch: an illegal transition is 409). Routes raise, or let these propagate;
they never catch them one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.kafka.publisher import PublishFailed
from shared.logging import get_logger

log = get_logger("linli.http")


class ApiError(Exception):
    """Raise from a route to answer with the error format (``extra``: figures that explain the
    error, added to it, e.g. the ledger's ``would_leave_fen``)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}
        self.extra = extra or {}


class Unavailable(ApiError):
    """A dependency (Kafka, the database) is down: 503 with Retry-After; nothing was accepted."""

    def __init__(self, what: str, retry_after_s: int):
        super().__init__(
            503,
            "unavailable",
            f"{what} is unavailable; nothing was accepted, retry later",
            headers={"Retry-After": str(retry_after_s)},
        )


E = TypeVar("E", bound=Exception)
# the database is away or too slow (server selection, network, timeouts): transient, so 503;
# other database errors (a duplicate key, a bad query) are bugs or refusals, not outages
DATABASE_DOWN: tuple[type[Exception], ...] = (ConnectionFailure, ExecutionTimeout, WTimeoutError)


class ErrorMap:
    """Failures to answers: Kafka and database outages (503 with Retry-After) for every
    service, plus the domain refusals each service registers with :meth:`refuse`."""

    def __init__(self, retry_after_s: int):
        self.retry_after_s = retry_after_s
        self._refusals: dict[type[Exception], Callable[[Any], ApiError]] = {}

    def refuse(self, kind: type[E], answer: Callable[[E], ApiError]) -> None:
        """Answer every uncaught ``kind`` with ``answer(exc)``."""
        self._refusals[kind] = answer

    @property
    def kinds(self) -> tuple[type[Exception], ...]:
        """Every exception type this map answers."""
        return (ApiError, PublishFailed, *DATABASE_DOWN, *self._refusals)

    def answer(self, exc: BaseException) -> ApiError | None:
        """The answer for ``exc``, or None when it is unexpected (a bug: 500)."""
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, PublishFailed):
            return Unavailable("Kafka", self.retry_after_s)
        if isinstance(exc, DATABASE_DOWN):
            return Unavailable("the database", self.retry_after_s)
        for kind, to_answer in self._refusals.items():
            if isinstance(exc, kind):
                return to_answer(exc)
        return None


def error_body(*errors: dict[str, Any]) -> dict[str, Any]:
    return {"errors": list(errors)}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers=None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body({"field": field, "code": code, "message": message, **(extra or {})}),
        status_code=status,
        headers=headers,
    )


def _field_of(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def install_error_handlers(app: FastAPI, errors: ErrorMap) -> None:
    async def _mapped(request: Request, exc: Exception) -> JSONResponse:
        answer = errors.answer(exc)
        if answer is None:  # a subclass FastAPI matched that the map does not know
            return await _unexpected(request, exc)
        if answer.status == 503:
            log.warning("unavailable", path=request.url.path, error=repr(exc))
        return error_response(
            answer.status, answer.code, answer.message, answer.field, answer.headers, answer.extra
        )

    for kind in errors.kinds:  # one handler per type: answered inside the app, not re-raised
        app.add_exception_handler(kind, _mapped)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        items = [
            {"field": _field_of(e["loc"]), "code": e["type"], "message": e["msg"]}
            for e in exc.errors()
        ]
        return JSONResponse(error_body(*items), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        field, headers = None, exc.headers
        if exc.status_code == 400 and "body" in str(exc.detail):  # FastAPI's unparsable body
            code, field = "malformed_body", "body"
        if exc.status_code == 405:  # every method of the path, not just the first route's
            headers = {**(headers or {}), "Allow": ", ".join(_allowed(request))}
        return error_response(exc.status_code, code, str(exc.detail), field, headers)

    app.add_exception_handler(Exception, _unexpected)


def _allowed(request: Request) -> list[str]:
    """The methods the routes of the request's path answer (for a 405's ``Allow``)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal error; it has been logged")
