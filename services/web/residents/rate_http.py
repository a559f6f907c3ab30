"""The return visit: the signed link a resident gets when a report is done opens this page;
they answer satisfied / basically / not (5, 3, 1 on notify's scale: 1 reopens the case, as
dispatch's policy says) with a comment. The link's token is the only key; notify checks it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from services.web.backends import ServiceError
from services.web.pages import see_other
from services.web.residents.common import Residents

RATINGS = {"satisfied": 5, "basically": 3, "not": 1}
TOKEN = r"^[A-Za-z0-9_.:-]{1,400}$"


def router(residents: Residents) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    backends = residents.backends

    async def link(token: str) -> dict | None:
        try:
            return await backends.call("notify", "GET", f"/api/v1/ratings/{token}")
        except ServiceError as exc:
            if exc.status in (404, 410):
                return None
            raise residents.refusal(exc) from exc

    @web.get("/rate/{token}")
    async def rate_page(request: Request, token: Annotated[str, Path(pattern=TOKEN)]):
        resident = await residents.resident(request)
        found = await link(token)
        status = 200 if found else 404
        thanks = request.query_params.get("thanks") == "1"
        return residents.render(request, "rate.html.j2", resident, status, token=token,
                                link=found, thanks=thanks)  # fmt: skip

    @web.post("/rate/{token}")
    async def rate(request: Request, token: Annotated[str, Path(pattern=TOKEN)]) -> Response:
        resident = await residents.resident(request)
        form = await residents.form(request, resident)
        found = await link(token)
        rating = RATINGS.get(str(form.get("rating", "")))
        comment = str(form.get("comment", "")).strip()[:1000] or None
        if found is None or rating is None:
            errors = {} if found is None else {"rating": "r.required"}
            return residents.render(request, "rate.html.j2", resident, 400 if found else 404,
                                    token=token, link=found, errors=errors)  # fmt: skip
        try:
            await backends.call("notify", "POST", f"/api/v1/ratings/{token}",
                                json={"rating": rating, "comment": comment})  # fmt: skip
        except ServiceError as exc:
            if exc.status != 409:  # already rated: the thanks page says so
                raise residents.refusal(exc) from exc
        return see_other(f"/rate/{token}?thanks=1")

    return web
