"""The live boards' stream: Server-Sent Events telling a signed-in office or department that
a case in its scope changed (``event: changed``, no data), keep-alive comments between. The
browser reloads the board's main part on each (static/console.js)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from services.web.live import CHANGED, LiveBoards, TooManyStreams
from services.web.pages import SESSION_COOKIE, Pages, Refusal
from services.web.staff import Person
from shared.http.stopping import is_stopping

SESSION_CHECK_S = 30.0  # how often an open stream reads its session again
LIVE_PAGES = ("cases", "deadlines")


def router(pages: Pages, boards: LiveBoards) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    @web.get("/live/cases")
    async def live_cases(request: Request) -> Response:
        person = await pages.person(request)
        if not any(page in person.scope.pages for page in LIVE_PAGES):
            raise Refusal(403, "forbidden")
        scope = f"{person.scope.role}:{person.scope.code}"
        try:
            boards.admit(person.username)
        except TooManyStreams as exc:
            raise Refusal(429, "toomany") from exc
        return StreamingResponse(
            _events(pages, boards, request, person, scope),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
        )

    return web


async def _events(
    pages: Pages, boards: LiveBoards, request: Request, person: Person, scope: str
) -> AsyncIterator[str]:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    checked = time.monotonic()

    async def ask() -> str:
        return await pages.backends.queue_stamp(pages.staff.token_for(person))

    async def still_here() -> bool:
        nonlocal checked
        if is_stopping(request.app) or await request.is_disconnected():
            return False
        if time.monotonic() - checked >= SESSION_CHECK_S:
            checked = time.monotonic()
            return await pages.staff.person(cookie, touch=False) is not None
        return True

    with boards.held(person.username, scope):
        yield f"retry: {int(boards.poll_s * 2500)}\n\n"
        async for what in boards.follow(scope, ask, still_here):
            yield f"event: {CHANGED}\ndata: \n\n" if what == CHANGED else ": still here\n\n"
