"""A signed-in resident's own pages: my reports with each one's timeline (following a report
is offered with the duplicates, ``report_http``), the inbox (live over Server-Sent Events
relayed from notify; a plain list without script), and notification preferences. Every call
to intake and notify carries the session's own resident token and reference: no page takes a
reference from the request, so no crafted URL reaches another resident's data (and the
services check the token again)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response, StreamingResponse

from services.web.backends import ServiceError
from services.web.domain.preferences import OPT_OUTS, preferences_body
from services.web.pages import see_other
from services.web.residents.common import ResidentRefusal, Residents
from services.web.residents.report_http import ISSUE_ID
from services.web.residents.sessions import Resident
from shared.http.stopping import is_stopping


def router(residents: Residents) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    _report_routes(web, residents)
    _inbox_routes(web, residents)
    _preference_routes(web, residents)
    return web


async def _my_issues(residents: Residents, resident: Resident) -> list[dict[str, Any]]:
    try:
        found = await residents.backends.call(
            "intake", "GET", f"/api/v1/residents/{resident.ref}/issues", resident.token
        )
    except ServiceError as exc:
        raise residents.refusal(exc) from exc
    return found["issues"]


def _report_routes(web: APIRouter, residents: Residents) -> None:
    """My reports, and one of them with its timeline."""
    backends = residents.backends

    @web.get("/me")
    async def mine(request: Request) -> Response:
        resident = await residents.signed_in(request)
        issues = await _my_issues(residents, resident)
        return residents.render(request, "mine.html.j2", resident, issues=issues)

    @web.get("/me/reports/{issue_id}")
    async def one(request: Request, issue_id: Annotated[str, Path(pattern=ISSUE_ID)]) -> Response:
        resident = await residents.signed_in(request)
        try:
            issue = await backends.call(
                "intake", "GET", f"/api/v1/issues/{issue_id}", resident.token
            )
        except ServiceError as exc:
            raise residents.refusal(exc) from exc
        return residents.render(request, "issue.html.j2", resident, issue=issue)


def _inbox_routes(web: APIRouter, residents: Residents) -> None:
    """The inbox as a plain list, and notify's live stream of it relayed."""
    backends = residents.backends

    @web.get("/me/inbox")
    async def inbox(request: Request) -> Response:
        resident = await residents.signed_in(request)
        try:
            found = await backends.call(
                "notify", "GET", f"/api/v1/residents/{resident.ref}/inbox", resident.token
            )
        except ServiceError as exc:
            raise residents.refusal(exc) from exc
        return residents.render(request, "inbox.html.j2", resident, messages=found["messages"])

    @web.get("/me/inbox/stream")
    async def stream(request: Request) -> Response:
        """Notify's live stream of this resident's inbox, passed through as it comes."""
        resident = await residents.signed_in(request)
        url = f"{backends.urls['notify']}/api/v1/residents/{resident.ref}/inbox/stream"
        headers = {"Authorization": f"Bearer {resident.token}"}
        if request.headers.get("last-event-id"):
            headers["Last-Event-ID"] = request.headers["last-event-id"][:300]
        return StreamingResponse(
            _relay(residents.streams, url, headers, request),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
        )


def _preference_routes(web: APIRouter, residents: Residents) -> None:
    """Notification preferences: shown, and saved to notify."""
    backends = residents.backends

    @web.get("/me/preferences")
    async def preferences(request: Request, saved: int = 0) -> Response:
        resident = await residents.signed_in(request)
        prefs = await _prefs(residents, resident)
        return residents.render(request, "prefs.html.j2", resident, prefs=prefs,
                                opt_outs=OPT_OUTS, saved=bool(saved))  # fmt: skip

    @web.post("/me/preferences")
    async def save_preferences(request: Request) -> Response:
        resident = await residents.signed_in(request)
        form = await residents.form(request, resident)
        body, errors = preferences_body(form)
        if errors:
            return residents.render(request, "prefs.html.j2", resident, 400, prefs=body,
                                    opt_outs=OPT_OUTS, errors=errors)  # fmt: skip
        try:
            await backends.call("notify", "PUT", f"/api/v1/residents/{resident.ref}/preferences",
                                resident.token, json=body)  # fmt: skip
        except ServiceError as exc:
            raise residents.refusal(exc) from exc
        return see_other("/me/preferences?saved=1")


async def _prefs(residents: Residents, resident: Resident) -> dict[str, Any]:
    try:
        return await residents.backends.call(
            "notify", "GET", f"/api/v1/residents/{resident.ref}/preferences", resident.token
        )
    except ServiceError as exc:
        raise residents.refusal(exc) from exc


async def _relay(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], request: Request
) -> AsyncIterator[bytes]:
    try:
        async with client.stream("GET", url, headers=headers) as answer:
            if answer.status_code != 200:
                yield b"event: gone\ndata: {}\n\n"
                return
            async for chunk in answer.aiter_raw():
                if is_stopping(request.app) or await request.is_disconnected():
                    return
                yield chunk
    except httpx.HTTPError:
        yield b"retry: 5000\n\n"  # notify away: the browser reconnects by itself


__all__ = ["ResidentRefusal", "router"]
