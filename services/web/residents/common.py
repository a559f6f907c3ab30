"""What the residents' pages share: the signed-in resident (if any), the forms' CSRF check
(the session's token, or the double-submit cookie before sign-in), rendering in the
residents' layout, and refusals as a residents' page."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from services.web.backends import ServiceError
from services.web.pages import MAX_FIELD, PRE_COOKIE, Pages, Refusal, see_other
from services.web.residents.sessions import RESIDENT_COOKIE, Resident, ResidentSessions
from services.web.security import safe_next, same_token

MAX_FIELDS = 80


class ResidentRefusal(Refusal):
    """A refusal answered in the residents' layout."""


class ResidentSignInNeeded(Exception):
    """The page is a signed-in resident's own; the answer is the phone sign-in page."""


class Residents:
    def __init__(
        self, pages: Pages, sessions: ResidentSessions, *, production: bool, photo_max: int
    ):
        self.pages, self.sessions = pages, sessions
        self.backends, self.reference, self.tree = pages.backends, pages.reference, pages.tree
        self.production, self.photo_max = production, photo_max
        self.streams: Any = None  # the live inboxes' own HTTP client (set by the wiring)

    async def resident(self, request: Request) -> Resident | None:
        return await self.sessions.resident(request.cookies.get(RESIDENT_COOKIE, ""))

    async def signed_in(self, request: Request) -> Resident:
        resident = await self.resident(request)
        if resident is None:
            raise ResidentSignInNeeded()
        return resident

    def render(
        self, request: Request, template: str, resident: Resident | None, status: int = 200,
        **context: Any,
    ) -> HTMLResponse:  # fmt: skip
        """A residents' page; its forms carry the session's CSRF token, or before sign-in
        the double-submit cookie's (set here when the browser has none)."""
        pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(32)
        csrf = resident.csrf if resident else pre
        lang = self.pages.language(request)
        response = self.pages.render(
            request, f"residents/{template}", None, status, resident=resident, csrf=csrf,
            where=lambda node_id: self.where(node_id, lang), **context,
        )  # fmt: skip
        if resident is None and PRE_COOKIE not in request.cookies:
            self.pages.set_cookie(response, PRE_COOKIE, pre, max_age=3600)
        return response

    async def form(self, request: Request, resident: Resident | None, files: int = 0) -> FormData:
        """The posted form, its CSRF token checked and its text fields bounded."""
        try:
            form = await request.form(max_files=files, max_fields=MAX_FIELDS)
        except Exception as exc:  # malformed bodies, too many fields or files
            raise ResidentRefusal(400, "invalid", "form") from exc
        expected = resident.csrf if resident else request.cookies.get(PRE_COOKIE)
        if not same_token(expected, form.get("csrf")):
            raise ResidentRefusal(403, "csrf")
        for name, value in form.multi_items():
            if isinstance(value, str) and len(value) > MAX_FIELD:
                raise ResidentRefusal(400, "invalid", f"{name}: at most {MAX_FIELD} characters")
        return form

    def where(self, node_id: str, lang: str) -> str:
        """A place as residents say it: a building with its compound ("红旗小区 2号楼")."""
        node = self.tree.get(node_id)
        if node is None:
            return node_id
        parent = self.tree.parent(node_id) if node.level == "building" else None
        name = node.name.get(lang)
        return f"{parent.name.get(lang)} {name}" if parent is not None else name

    def refusal(self, exc: ServiceError) -> ResidentRefusal:
        plain = self.pages.service_refusal(exc)
        return ResidentRefusal(plain.status, plain.key, plain.detail)

    def set_cookie(self, response: Response, name: str, value: str, **kwargs: Any) -> None:
        self.pages.set_cookie(response, name, value, **kwargs)


def install_refusals(app: FastAPI, residents: Residents) -> None:
    @app.exception_handler(ResidentRefusal)
    async def refused(request: Request, exc: ResidentRefusal) -> Response:
        resident = await residents.resident(request)
        return residents.render(
            request, "error.html.j2", resident, exc.status, key=exc.key, detail=exc.detail
        )

    @app.exception_handler(ResidentSignInNeeded)
    async def sign_in_first(request: Request, _: ResidentSignInNeeded) -> Response:
        if request.method != "GET":
            return residents.render(request, "error.html.j2", None, 401, key="r.signin-first")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = see_other(f"/phone?next={quote(safe_next(target))}")
        response.delete_cookie(RESIDENT_COOKIE, path="/")
        return response
