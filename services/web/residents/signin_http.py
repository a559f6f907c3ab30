"""Residents' front door: the entry page, sign-in with a one-time code by SMS (notify sends
and checks it), sign-out, and outside production the development SMS outbox."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.backends import ServiceError
from services.web.pages import client_address, see_other
from services.web.residents.common import ResidentRefusal, Residents
from services.web.residents.sessions import RESIDENT_COOKIE
from services.web.security import safe_next

ERRORS = {"bad_phone": "r.phone.bad", "too_many": "r.code.too_many", "wrong": "r.code.wrong",
          "expired": "r.code.expired"}  # fmt: skip
SESSION_MAX_AGE = 7 * 86400


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


def router(residents: Residents) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    _entry_routes(web, residents)
    _code_routes(web, residents)
    _session_routes(web, residents)
    return web


def _entry_routes(web: APIRouter, residents: Residents) -> None:
    """The entry page and the phone number's form."""

    @web.get("/residents")
    async def entry(request: Request) -> Response:
        resident = await residents.resident(request)
        return residents.render(request, "home.html.j2", resident)

    @web.get("/phone")
    async def phone_form(request: Request, next: str = "/me") -> Response:
        return residents.render(request, "phone.html.j2", None, next=safe_next(next, "/me"))


def _code_routes(web: APIRouter, residents: Residents) -> None:
    """Asking notify for a code by SMS, then trading the code for a session."""
    pages = residents.pages

    @web.post("/phone")
    async def ask_code(request: Request) -> Response:
        form = await residents.form(request, None)
        phone, next_ = str(form.get("phone", "")).strip(), safe_next(str(form.get("next")), "/me")
        body = {"phone": phone[:20], "language": pages.language(request),
                "client_address": client_address(request)}  # fmt: skip
        try:
            await residents.backends.call("notify", "POST", "/api/v1/residents/signin-codes",
                                          json=body)  # fmt: skip
        except ServiceError as exc:
            if exc.status == 503:
                raise residents.refusal(exc) from exc
            error = ERRORS.get(exc.code, "r.phone.bad")
            return residents.render(request, "phone.html.j2", None, 400 if exc.status != 429
                                    else 429, next=next_, phone=phone, error=error)  # fmt: skip
        return residents.render(request, "code.html.j2", None, next=next_, phone=phone)

    @web.post("/phone/code")
    async def check_code(request: Request) -> Response:
        form = await residents.form(request, None)
        phone, next_ = str(form.get("phone", "")).strip(), safe_next(str(form.get("next")), "/me")
        body = {"phone": phone[:20], "code": str(form.get("code", "")).strip()[:12]}
        try:
            found = await residents.backends.call(
                "notify", "POST", "/api/v1/residents/signin", json=body
            )
        except ServiceError as exc:
            if exc.status == 503:
                raise residents.refusal(exc) from exc
            error = ERRORS.get(exc.code, "r.code.wrong")
            return residents.render(request, "code.html.j2", None, 400, next=next_,
                                    phone=phone, error=error)  # fmt: skip
        cookie = await residents.sessions.start(
            found["resident_ref"], found["resident_token"], _digits(phone)
        )
        response = see_other(next_)
        residents.set_cookie(response, RESIDENT_COOKIE, cookie, max_age=SESSION_MAX_AGE)
        return response


def _session_routes(web: APIRouter, residents: Residents) -> None:
    """Signing out, and outside production the development SMS outbox."""

    @web.post("/me/signout")
    async def sign_out(request: Request) -> Response:
        resident = await residents.signed_in(request)
        await residents.form(request, resident)
        await residents.sessions.end(request.cookies.get(RESIDENT_COOKIE, ""))
        response = see_other("/residents")
        response.delete_cookie(RESIDENT_COOKIE, path="/")
        return response

    @web.get("/dev/outbox")
    async def outbox(request: Request, to: str = "") -> Response:
        """Development only: production answers 404 and never asks notify."""
        if residents.production:
            raise ResidentRefusal(404, "notfound")
        texts = []
        if re.fullmatch(r"[0-9]{5,20}", _digits(to)):
            found = await residents.backends.call(
                "notify", "GET", "/api/v1/dev/sms-outbox", params={"to": _digits(to)}
            )
            texts = found["texts"]
        return residents.render(request, "outbox.html.j2", None, to=to[:20], texts=texts)
