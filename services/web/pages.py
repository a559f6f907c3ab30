"""What every page handler shares: the templates, the signed-in person, the language, the
CSRF check on forms, and turning a refusal into a clear page (never a stack trace)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from services.web.backends import Backends, ServiceError
from services.web.domain.charts import place_picture
from services.web.domain.i18n import DEFAULT, LANGUAGES, translate
from services.web.security import same_token
from services.web.staff import Person, Staff
from shared.reference import Level, Reference

SESSION_COOKIE = "linli_session"
PRE_COOKIE = "linli_pre"  # the sign-in form's double-submit CSRF cookie
LANG_COOKIE = "linli_lang"
MAX_FIELD = 2000
MAX_FIELDS = 40
TEMPLATES = Path(__file__).parent / "templates"
LOCAL = ZoneInfo("Asia/Shanghai")
T = TypeVar("T")


class Refusal(Exception):
    """Answer with the error page: HTTP ``status`` and the words of ``key`` (plus detail)."""

    def __init__(self, status: int, key: str, detail: str = ""):
        super().__init__(key)
        self.status, self.key, self.detail = status, key, detail


class SignInNeeded(Exception):
    """The page needs a signed-in person; the answer is the sign-in page."""


def local_time(when: datetime | None) -> str:
    """A time as people here read it: Asia/Shanghai, to the minute."""
    return "" if when is None else when.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


class Pages:
    def __init__(
        self, staff: Staff, backends: Backends, reference: Reference, *, secure_cookie: bool
    ):
        self.staff, self.backends, self.reference = staff, backends, reference
        self.tree = reference.tree
        self.kafka_bootstrap: list[str] = []  # set by the composition root
        self.topic_prefix = ""
        self.departments = sorted(reference.departments)
        self.secure_cookie = secure_cookie
        self.env = Environment(  # templates read once: no file checks on every page
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2", "html"]),
            auto_reload=False,
        )  # fmt: skip
        self.env.filters["local"] = local_time

    # request facts ----------------------------------------------------------------------------
    def language(self, request: Request) -> str:
        lang = request.cookies.get(LANG_COOKIE, DEFAULT)
        return lang if lang in LANGUAGES else DEFAULT

    async def person(self, request: Request) -> Person:
        person = await self.staff.person(request.cookies.get(SESSION_COOKIE, ""))
        if person is None:
            raise SignInNeeded()
        return person

    async def person_and(
        self, request: Request, page: str, fetch: Callable[[Person], Awaitable[T]]
    ) -> tuple[Person, T]:
        """The signed-in person, who may open ``page``, and ``fetch(person)``. For a session
        this process has read before, the fetch starts with its remembered person while the
        session is read again, so the two round trips overlap; the answer is used only once
        the session proves live, allowed and of the same person (else it is dropped). Only
        for reads: ``fetch`` may run for a session that turns out to have ended."""
        known = self.staff.known(request.cookies.get(SESSION_COOKIE, ""))
        if known is None or page not in known.scope.pages:
            person = await self.person(request)
            self.needs_page(person, page)
            return person, await fetch(person)
        early = asyncio.ensure_future(fetch(known))
        try:
            person = await self.person(request)
            self.needs_page(person, page)
        except BaseException:
            _drop(early)
            raise
        if person != known:
            _drop(early)
            return person, await fetch(person)
        return person, await early

    def needs_page(self, person: Person, page: str) -> None:
        if page not in person.scope.pages:
            raise Refusal(403, "forbidden")

    async def form(self, request: Request, person: Person | None = None) -> FormData:
        """The posted form, its CSRF token checked and its sizes bounded."""
        try:
            form = await request.form(max_files=0, max_fields=MAX_FIELDS)
        except Exception as exc:  # malformed bodies, too many fields
            raise Refusal(400, "invalid", "form") from exc
        expected = person.csrf if person else request.cookies.get(PRE_COOKIE)
        if not same_token(expected, form.get("csrf")):
            raise Refusal(403, "csrf")
        for name, value in form.multi_items():
            if not isinstance(value, str) or len(value) > MAX_FIELD:
                raise Refusal(400, "invalid", f"{name}: at most {MAX_FIELD} characters")
        return form

    # names ------------------------------------------------------------------------------------
    def place(self, code: str, lang: str = DEFAULT) -> str:
        """A node's or department's name in ``lang``; the code itself when unknown."""
        if code == "*":
            return translate(lang, "all-funds")
        node = self.tree.get(code)
        if node is not None:
            return node.name.get(lang)
        department = self.reference.departments.get(code)
        return department.name.get(lang) if department is not None else code

    def category(self, code: str, lang: str = DEFAULT) -> str:
        category = self.reference.categories.get(code)
        return category.name.get(lang) if category is not None else code

    def counts_by_place(self, places: dict[str, int], scope: str) -> Counter[str]:
        """Cases per node one level below ``scope`` (per street for a department), from
        cases per node id."""
        node = self.tree.get(scope)
        below = node.level.child if node is not None else Level.STREET
        counts: Counter[str] = Counter()
        for node_id, n in places.items():
            if node_id in self.tree and below is not None:
                place = self.tree.ancestor_at(node_id, below)
                counts[place.id if place else node_id] += n
        return counts

    def places_within(self, scope: str) -> list[Any]:
        """The place filter's choices: the scope's subtree down to compounds (every street
        for a department)."""
        if scope not in self.tree:
            return list(self.tree.at_level(Level.STREET))
        return [self.tree[scope], *(n for n in self.tree.descendants(scope)
                                    if n.level is not Level.BUILDING)][:500]  # fmt: skip

    def picture(self, node_id: str, lang: str) -> str:
        if node_id not in self.tree:
            return ""
        path = [*self.tree.ancestors(node_id), self.tree[node_id]]
        return place_picture(self.tree.path_name(node_id, lang), [n.name.get(lang) for n in path])

    def level(self, node_id: str) -> str | None:
        node = self.tree.get(node_id)
        return None if node is None else str(node.level)

    # answers ----------------------------------------------------------------------------------
    def render(
        self,
        request: Request,
        template: str,
        person: Person | None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        lang = self.language(request)
        html = self.env.get_template(template).render(
            t=partial(translate, lang),
            lang=lang,
            person=person,
            path=request.url.path,
            query=str(request.url.query),
            place=partial(self.place, lang=lang),
            category=partial(self.category, lang=lang),
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def refusal_page(self, request: Request, refusal: Refusal, person: Person | None) -> Response:
        return self.render(
            request, "error.html.j2", person, refusal.status, key=refusal.key,
            detail=refusal.detail,
        )  # fmt: skip

    def service_refusal(self, exc: ServiceError) -> Refusal:
        if exc.status in (401, 403):
            return Refusal(403, "forbidden", exc.message)
        if exc.status == 404:
            return Refusal(404, "notfound")
        if exc.status == 503:
            return Refusal(503, "unavailable", exc.message)
        return Refusal(409 if exc.status == 409 else 400, "refused", exc.message)

    def set_cookie(self, response: Response, name: str, value: str, **kwargs: Any) -> None:
        response.set_cookie(
            name, value, httponly=True, samesite="strict", secure=self.secure_cookie,
            path="/", **kwargs,
        )  # fmt: skip


def _drop(task: asyncio.Future[Any]) -> None:
    """Cancel an answer no one will read (its failure, if it had one, is not reported)."""
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
