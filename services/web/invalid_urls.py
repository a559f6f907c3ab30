"""A URL the pages cannot take (a malformed id in the path, a query value out of bounds) is
answered as a page in the person's language, like every other refusal: not found for a path,
"please check" naming the query field otherwise; never FastAPI's JSON 422."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from services.web.pages import SESSION_COOKIE, Pages, Refusal
from services.web.residents.common import Residents

# the residents' side of the site (its own layout and sign-in); everything else is the console's
RESIDENT_PATHS = ("/me", "/paper", "/phone", "/rate/", "/report", "/residents", "/dev/outbox")


def refusal_of(exc: RequestValidationError) -> Refusal:
    places = [tuple(str(part) for part in e.get("loc", ())) for e in exc.errors()]
    if any(loc[:1] == ("path",) for loc in places):
        return Refusal(404, "notfound")
    fields = sorted({".".join(loc[1:]) or loc[0] for loc in places if loc})
    return Refusal(400, "invalid", ", ".join(fields))


def install(app: FastAPI, pages: Pages, residents: Residents) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        refusal = refusal_of(exc)
        if request.url.path.startswith(RESIDENT_PATHS):
            resident = await residents.resident(request)
            return residents.render(request, "error.html.j2", resident, refusal.status,
                                    key=refusal.key, detail=refusal.detail)  # fmt: skip
        person = await pages.staff.person(request.cookies.get(SESSION_COOKIE, ""))
        return pages.refusal_page(request, refusal, person)
