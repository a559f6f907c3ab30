"""What consult's pages share: calls to consult (with the person's, the resident's or no
token), and consult's refusals as clear pages in the page's language."""

from __future__ import annotations

import re
from typing import Any

from services.web.backends import Backends, ServiceError
from services.web.pages import Pages, Refusal
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
        raise refusal_of(exc, residents.pages, ResidentRefusal) from exc


def known(value: str, pattern: str, kind: type[Refusal] = Refusal) -> str:
    """An id from the path, or the not-found page (a page, not a validation error)."""
    if not re.match(pattern, value):
        raise kind(404, "notfound")
    return value


def refusal_of(exc: ServiceError, pages: Pages, kind: type[Refusal] = Refusal) -> Refusal:
    """A consult refusal as a page: its own words when consult's code has them, else the
    console's plain words for any service's refusal (``Pages.service_refusal``)."""
    if exc.code in EXPLAINED:
        return kind(403 if exc.status == 401 else exc.status, f"c.err.{exc.code}")
    plain = pages.service_refusal(exc)
    return kind(plain.status, plain.key, plain.detail)
