"""A community office's polls (``polls`` page): the polls and consultations of its subtree,
drafting a poll, opening and closing it, the turnout and results, printing paper codes (a
page made to print), and moderating a consultation's comments (hide with a reason). Every
call carries the person's own staff token; consult checks that the node is in the office's
subtree. Each write is in the console's audit trail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.backends import ServiceError
from services.web.consult.ballots import POLL_ID, turnout_share
from services.web.consult.common import consult, known, refusal_of
from services.web.consult.drafts import BadForm, households_of, poll_body
from services.web.pages import Pages, Refusal, client_address, see_other
from services.web.staff import Person

ITEM = r"^[a-z]{3}_[0-9a-z_-]{3,60}$"  # a consultation's or a comment's id
PAGE = "polls"


async def as_person(pages: Pages, person: Person, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return await consult(pages.backends, method, path, pages.staff.token_for(person), **kwargs)
    except ServiceError as exc:
        raise refusal_of(exc, pages) from exc


async def audited(pages: Pages, request: Request, person: Person, what: str, target: str,
                  method: str, path: str, **kwargs: Any) -> Any:  # fmt: skip
    """A write to consult as the person, in the audit trail either way."""
    address = client_address(request)
    try:
        done = await as_person(pages, person, method, path, **kwargs)
    except Refusal:
        await pages.staff.audit(person, what, address, "refused", target=target)
        raise
    await pages.staff.audit(person, what, address, "ok", target=target)
    return done


def router(pages: Pages) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    _list_routes(web, pages)
    _moderation_routes(web, pages)
    _poll_routes(web, pages)
    return web


async def _office(pages: Pages, request: Request) -> Person:
    person = await pages.person(request)
    pages.needs_page(person, PAGE)
    return person


async def _list_page(pages: Pages, request: Request, person: Person, status: int = 200,
                     **context: Any) -> Response:  # fmt: skip
    polls = (await as_person(pages, person, "GET", "/polls"))["polls"]
    found = (await as_person(pages, person, "GET", "/consultations"))["consultations"]
    return pages.render(request, "consult/polls.html.j2", person, status, polls=polls,
                        consultations=found, places=pages.places_within(person.scope.code),
                        **context)  # fmt: skip


def _list_routes(web: APIRouter, pages: Pages) -> None:
    @web.get("/polls")
    async def polls(request: Request) -> Response:
        person = await _office(pages, request)
        return await _list_page(pages, request, person)

    @web.post("/polls")
    async def draft(request: Request) -> Response:
        person = await _office(pages, request)
        form = await pages.form(request, person)
        try:
            body = poll_body(form, pages.staff.clock())
        except BadForm as exc:
            return await _list_page(pages, request, person, 400, error=str(exc), form=form)
        await audited(pages, request, person, "consult:poll", body["poll_id"], "POST", "/polls",
                      json=body)  # fmt: skip
        return see_other(f"/polls/{body['poll_id']}")


def _poll_routes(web: APIRouter, pages: Pages) -> None:
    @web.get("/polls/{poll_id}")
    async def poll(request: Request, poll_id: str) -> Response:
        known(poll_id, POLL_ID)
        person = await _office(pages, request)
        mine = (await as_person(pages, person, "GET", "/polls"))["polls"]
        found = next((p for p in mine if p["poll_id"] == poll_id), None)
        if found is None:  # not in this office's subtree (or no such poll)
            raise Refusal(404, "notfound")
        phoneless = []
        if found["status"] == "open":  # paper codes are printed for these
            roll = await as_person(pages, person, "GET", f"/polls/{poll_id}/roll")
            phoneless = [h["household"] for h in roll["households"] if not h["phone"]]
        return pages.render(request, "consult/poll.html.j2", person, poll=found,
                            phoneless=phoneless,
                            share=turnout_share(found.get("results") or {}))  # fmt: skip

    @web.post("/polls/{poll_id}/{step}")
    async def step(request: Request, poll_id: str, step: str) -> Response:
        known(poll_id, POLL_ID)
        person = await _office(pages, request)
        form = await pages.form(request, person)
        if step in ("open", "close"):
            path = f"/polls/{poll_id}/{step}"
            await audited(pages, request, person, f"consult:{step}", poll_id, "POST", path,
                          retries=2)  # fmt: skip
            return see_other(f"/polls/{poll_id}")
        if step != "paper-codes":
            raise Refusal(404, "notfound")
        try:
            households = households_of(form)
        except BadForm as exc:
            raise Refusal(400, "invalid", str(exc)) from exc
        path, body = f"/polls/{poll_id}/paper-codes", {"households": households}
        made = await audited(pages, request, person, "consult:paper-codes", poll_id, "POST",
                             path, json=body)  # fmt: skip
        return pages.render(request, "consult/codes.html.j2", person, poll_id=poll_id,
                            codes=made["codes"], where=str(request.base_url) + "paper")  # fmt: skip


def _moderation_routes(web: APIRouter, pages: Pages) -> None:
    @web.get("/polls/consultations/{consultation_id}")
    async def comments(request: Request, consultation_id: str) -> Response:
        known(consultation_id, ITEM)
        person = await _office(pages, request)
        mine = (await as_person(pages, person, "GET", "/consultations"))["consultations"]
        found = next((c for c in mine if c["consultation_id"] == consultation_id), None)
        if found is None:
            raise Refusal(404, "notfound")
        path = f"/consultations/{consultation_id}/comments"
        listed = (await as_person(pages, person, "GET", path))["comments"]
        return pages.render(request, "consult/moderate.html.j2", person, consultation=found,
                            comments=listed)  # fmt: skip

    @web.post("/polls/comments/{comment_id}/hide")
    async def hide(request: Request, comment_id: str) -> Response:
        known(comment_id, ITEM)
        person = await _office(pages, request)
        form = await pages.form(request, person)
        reason = str(form.get("reason", "")).strip()
        back = str(form.get("consultation_id", ""))
        if not reason:
            raise Refusal(400, "invalid", "reason: 1 to 500 characters")
        await audited(pages, request, person, "consult:hide", comment_id, "POST",
                      f"/comments/{comment_id}/hide", json={"reason": reason[:500]})  # fmt: skip
        return see_other(f"/polls/consultations/{back}" if back.startswith("con_") else "/polls")
