"""A compound's three-party resolutions (``resolutions`` page, for the accounts of the
compound's party branch, owners' committee and property company or self-management group):
the motions with each party's verdict and reason, putting a motion, approving or refusing
with a reason. Consult checks the token's compound and party on every call."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.consult.common import known
from services.web.consult.drafts import BadForm, decision_body, motion_body
from services.web.consult.staff_pages import as_person, audited
from services.web.pages import Pages, Refusal, see_other
from services.web.staff import Person

RESOLUTION = r"^res_[0-9a-z_-]{3,60}$"
PAGE = "resolutions"


def router(pages: Pages) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    async def party(request: Request) -> Person:
        person = await pages.person(request)
        pages.needs_page(person, PAGE)
        return person

    @web.get("/resolutions")
    async def resolutions(request: Request, done: int = 0) -> Response:
        person = await party(request)
        path = f"/compounds/{person.scope.code}/resolutions"
        found = (await as_person(pages, person, "GET", path))["resolutions"]
        found.sort(key=lambda r: (r["status"] != "pending", r["_id"]))
        return pages.render(request, "consult/resolutions.html.j2", person, resolutions=found,
                            done=bool(done))  # fmt: skip

    @web.post("/resolutions")
    async def propose(request: Request) -> Response:
        person = await party(request)
        form = await pages.form(request, person)
        try:
            body = motion_body(form)
        except BadForm as exc:
            raise Refusal(400, "invalid", str(exc)) from exc
        path = f"/compounds/{person.scope.code}/resolutions"
        await audited(pages, request, person, "consult:motion", body["resolution_id"], "POST",
                      path, json=body)  # fmt: skip
        return see_other("/resolutions?done=1")

    @web.post("/resolutions/{resolution_id}/decide")
    async def decide(request: Request, resolution_id: str) -> Response:
        known(resolution_id, RESOLUTION)
        person = await party(request)
        form = await pages.form(request, person)
        try:
            body = decision_body(form)
        except BadForm as exc:
            raise Refusal(400, "invalid", str(exc)) from exc
        await audited(pages, request, person, "consult:decide", resolution_id, "POST",
                      f"/resolutions/{resolution_id}/decide", json=body)  # fmt: skip
        return see_other("/resolutions?done=1")

    return web
