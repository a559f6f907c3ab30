"""Notify's HTTP adapter: residents' inbox (and its live stream), preferences, return-visit
ratings, and operators' area broadcasts (the routes: ``routes/``). Each route parses, calls
one use case of the application object and maps its result; refusals answer through the
platform's one error map (``refusals`` below), outages as 503 with Retry-After."""

from __future__ import annotations

from fastapi import APIRouter

from services.notify.application import Notify
from services.notify.domain import BadRatingToken
from services.notify.domain.refusals import (
    AlreadyDone,
    Incomplete,
    NotFound,
    NotifyRefusal,
    NotSignedIn,
    OutsideArea,
)
from services.notify.routes import broadcasts, inbox, preferences, ratings
from shared.http.errors import ApiError, ErrorMap

# where each input a refusal names is in a request
FIELD_AT = {
    "authorization": "header.authorization",
    "token": "path.token",
    "broadcast_id": "path.broadcast_id",
    "node_id": "body.node_id",
    "webhook": "body.webhook",
}
STATUS = {NotFound: 404, OutsideArea: 403, AlreadyDone: 409, Incomplete: 400}


def _answer(exc: NotifyRefusal) -> ApiError:
    field = FIELD_AT.get(exc.field, exc.field) if exc.field else None
    if isinstance(exc, NotSignedIn):
        return ApiError(401, exc.code, exc.message, field, {"WWW-Authenticate": "Bearer"})
    return ApiError(STATUS.get(type(exc), 400), exc.code, exc.message, field)


def refusals(errors: ErrorMap) -> None:
    """How notify's refusals answer: 401 (with ``WWW-Authenticate``) for a missing or wrong
    credential, 404 unknown, 403 outside the operator's area, 409 already done, 400 a field
    another one needs; a bad rating link 404, an expired one 410."""
    errors.refuse(NotifyRefusal, _answer)
    errors.refuse(
        BadRatingToken,
        lambda exc: ApiError(410 if exc.expired else 404, "bad_link", str(exc), "path.token"),
    )


def build_router(notify: Notify) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    router.include_router(inbox.routes(notify.residents))
    router.include_router(preferences.routes(notify.residents))
    router.include_router(ratings.routes(notify.ratings))
    router.include_router(
        broadcasts.routes(notify.operators, notify.broadcast_requests, notify.reach)
    )
    return router
