"""The console's front door: sign-in, sign-out, the language switch, the home page, and the
error pages every refusal ends in. The work pages are in ``cases_http`` and ``fund_http``."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response

from services.web.domain.i18n import LANGUAGES
from services.web.pages import (
    LANG_COOKIE,
    PRE_COOKIE,
    SESSION_COOKIE,
    Pages,
    Refusal,
    SignInNeeded,
    client_address,
    see_other,
)
from services.web.security import safe_next
from services.web.staff import SignInRefused


def install_refusals(app: FastAPI, pages: Pages) -> None:
    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Refusal) -> Response:
        person = await pages.staff.person(request.cookies.get(SESSION_COOKIE, ""))
        return pages.refusal_page(request, exc, person)

    @app.exception_handler(SignInNeeded)
    async def sign_in_first(request: Request, _: SignInNeeded) -> Response:
        if request.method != "GET":
            return pages.refusal_page(request, Refusal(401, "signin.expired"), None)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = see_other(f"/signin?next={target}")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def router(pages: Pages) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    @web.get("/")
    async def home(request: Request) -> Response:
        person = await pages.person(request)
        return see_other(f"/{person.scope.pages[0]}")

    @web.get("/signin")
    async def signin_form(request: Request, next: str = "/") -> Response:
        pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(32)
        response = pages.render(request, "signin.html.j2", None, pre=pre, next=safe_next(next))
        pages.set_cookie(response, PRE_COOKIE, pre, max_age=3600)
        return response

    @web.post("/signin")
    async def signin(request: Request) -> Response:
        form = await pages.form(request)
        username = str(form.get("username", "")).strip().lower()[:40]
        password = str(form.get("password", ""))
        try:
            cookie = await pages.staff.sign_in(username, password, client_address(request))
        except SignInRefused as refused:
            key = "signin.locked" if refused.reason == "locked" else "signin.failed"
            pre = request.cookies.get(PRE_COOKIE, "")
            return pages.render(
                request, "signin.html.j2", None, 401, pre=pre, error=key,
                next=safe_next(str(form.get("next", "/"))),
            )  # fmt: skip
        response = see_other(safe_next(str(form.get("next", "/"))))
        pages.set_cookie(response, SESSION_COOKIE, cookie)
        response.delete_cookie(PRE_COOKIE, path="/")
        return response

    @web.post("/signout")
    async def signout(request: Request) -> Response:
        person = await pages.person(request)
        await pages.form(request, person)
        await pages.staff.sign_out(
            request.cookies.get(SESSION_COOKIE, ""), person, client_address(request)
        )
        response = see_other("/signin")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @web.get("/lang")
    async def language(to: Annotated[str, Query(max_length=8)], next: str = "/") -> Response:
        response = see_other(safe_next(next))
        if to in LANGUAGES:
            pages.set_cookie(response, LANG_COOKIE, to, max_age=365 * 86400)
        return response

    return web
