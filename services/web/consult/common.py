"""What consult's pages share: calls to consult (with the person's, the resident's or no
token), and consult's refusals as clear pages in the page's language."""

from __future__ import annotations

import re
from typing import Any

from services.web.backends import Backends, ServiceError
from services.web.pages import Refusal
from services.web.residents.common import ResidentRefusal, Residents

API = "/api/v1/consult"
# consult's refusals that have their own words (``words``: ``c.err.<code>``)
EXPLAINED = ("not_on_roll", "poll_closed", "poll_not_open", "other_key", "bad_code",
             "not_eligible", "unknown_option")  # fmt: skip


async def consult(
    backends: Backends, method: str, path: str, token: str | None = None, retries: int = 0,
    **kwargs: Any,
) -> Any:  # fmt: skip
    """Consult's answer; ``ServiceError`` when it says no or cannot be reached. ``retries``:
    for steps consult finishes on a repeat (opening, closing), asked again as often when
    consult answers that the poll changed at the same time (its timer was at it)."""
    for _ in range(retries):
        try:
            return await backends.call("consult", method, API + path, token, **kwargs)
        except ServiceError as exc:
            if exc.code != "conflict":
                raise
    return await backends.call("consult", method, API + path, token, **kwargs)


async def resident_call(
    residents: Residents, method: str, path: str, token: str | None = None, **kwargs: Any
) -> Any:
    """Consult's answer for a residents' page; its refusals as a residents' page."""
    try:
        return await consult(residents.backends, method, path, token, **kwargs)
    except ServiceError as exc:
        raise refusal_of(exc, ResidentRefusal) from exc


def known(value: str, pattern: str, kind: type[Refusal] = Refusal) -> str:
    """An id from the path, or the not-found page (a page, not a validation error)."""
    if not re.match(pattern, value):
        raise kind(404, "notfound")
    return value


def refusal_of(exc: ServiceError, kind: type[Refusal] = Refusal) -> Refusal:
    """A consult refusal as a page: its own words when consult's code has them, else the
    console's plain words (forbidden, not found, unavailable, refused) with consult's
    message."""
    if exc.code in EXPLAINED:
        return kind(403 if exc.status == 401 else exc.status, f"c.err.{exc.code}")
    if exc.status in (401, 403):
        return kind(403, "forbidden", exc.message)
    if exc.status == 404:
        return kind(404, "notfound")
    if exc.status == 503:
        return kind(503, "unavailable", exc.message)
    return kind(409 if exc.status == 409 else 400, "refused", exc.message)
