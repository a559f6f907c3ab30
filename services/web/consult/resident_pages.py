"""A signed-in resident's polls: the polls whose roll holds their household, a poll's page
(its options, the ballot form, the last receipt this device got, the results after the
close, the linked consultation's comments), casting or changing the ballot, commenting.
Every call to consult carries the session's own reference and resident token: no page takes
a reference from the request, and consult checks the token and the roll again (a ballot
reads only the poll, one ``_id`` read: consult's own check of the roll refuses the others)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.consult.ballots import (
    POLL_ID,
    BadChoice,
    choice_of,
    key_cookie,
    new_ballot_key,
    receipt_cookie,
    turnout_share,
    usable_key,
)
from services.web.consult.comment_pages import post_comment
from services.web.consult.common import known
from services.web.consult.common import resident_call as call
from services.web.pages import see_other
from services.web.residents.common import ResidentRefusal, Residents
from services.web.residents.sessions import Resident

KEY_DAYS = 120  # the device keeps a poll's ballot key (and last receipt) this long


def router(residents: Residents) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    _poll_routes(web, residents)
    _ballot_routes(web, residents)
    return web


async def my_polls(residents: Residents, resident: Resident) -> list[dict[str, Any]]:
    path = f"/residents/{resident.ref}/polls"
    return (await call(residents, "GET", path, resident.token))["polls"]


async def my_poll(residents: Residents, resident: Resident, poll_id: str) -> dict[str, Any]:
    """The poll, if the resident's household is on its roll (else the clear refusal)."""
    for poll in await my_polls(residents, resident):
        if poll["poll_id"] == poll_id:
            return poll
    raise ResidentRefusal(403, "c.err.not_on_roll")


async def poll_page(
    residents: Residents, request: Request, resident: Resident | None, poll: dict[str, Any],
    status: int = 200, **context: Any,
) -> Response:  # fmt: skip
    """A poll's page: its form while open, its results once closed, its comments."""
    comments = []
    if poll.get("consultation_id"):
        path = f"/consultations/{poll['consultation_id']}/comments"
        comments = (await call(residents, "GET", path))["comments"]
    receipt = request.cookies.get(receipt_cookie(poll["poll_id"]), "")[:40]
    return residents.render(
        request, "poll.html.j2", resident, status, poll=poll, comments=comments,
        last_receipt=receipt, share=turnout_share(poll.get("results") or {}), **context,
    )  # fmt: skip


def _poll_routes(web: APIRouter, residents: Residents) -> None:
    @web.get("/me/polls")
    async def polls(request: Request) -> Response:
        resident = await residents.signed_in(request)
        found = await my_polls(residents, resident)
        return residents.render(request, "polls.html.j2", resident, polls=found)

    @web.get("/me/polls/{poll_id}")
    async def one(request: Request, poll_id: str, posted: int = 0) -> Response:
        known(poll_id, POLL_ID, ResidentRefusal)
        resident = await residents.signed_in(request)
        poll = await my_poll(residents, resident, poll_id)
        response = await poll_page(residents, request, resident, poll, posted=bool(posted))
        if poll["status"] == "open" and not usable_key(request.cookies.get(key_cookie(poll_id))):
            # the key is made with the form, so a ballot sent again after a failure (a 503,
            # a lost answer) carries the same key and consult takes it once
            keep(residents, response, poll_id, key_cookie(poll_id), new_ballot_key())
        return response

    @web.post("/me/polls/{poll_id}/comments")
    async def comment(request: Request, poll_id: str) -> Response:
        known(poll_id, POLL_ID, ResidentRefusal)
        resident = await residents.signed_in(request)
        form = await residents.form(request, resident)
        poll = await my_poll(residents, resident, poll_id)
        if not poll.get("consultation_id"):
            raise ResidentRefusal(404, "notfound")
        await post_comment(residents, resident, poll["consultation_id"], form.get("text"))
        return see_other(f"/me/polls/{poll_id}?posted=1#comments")


def _ballot_routes(web: APIRouter, residents: Residents) -> None:
    @web.post("/me/polls/{poll_id}/ballot")
    async def vote(request: Request, poll_id: str) -> Response:
        known(poll_id, POLL_ID, ResidentRefusal)
        resident = await residents.signed_in(request)
        form = await residents.form(request, resident)
        poll = await call(residents, "GET", f"/polls/{poll_id}")  # consult checks the roll
        try:
            choice = choice_of(poll, {k: form.getlist(k) for k in form})
        except BadChoice as exc:
            return await poll_page(residents, request, resident, poll, 400, error=str(exc))
        key = ballot_key(form.get("ballot_key"), request.cookies.get(key_cookie(poll_id)))
        body = {"resident_ref": resident.ref, "choice": choice, "ballot_key": key}
        done = await call(residents, "POST", f"/polls/{poll_id}/ballots", resident.token,
                           json=body)  # fmt: skip
        response = receipt_page(residents, request, resident, poll, done, key)
        keep(residents, response, poll_id, key_cookie(poll_id), key)
        keep(residents, response, poll_id, receipt_cookie(poll_id), done["receipt"])
        return response


def keep(residents: Residents, response: Response, poll_id: str, name: str, value: str) -> None:
    """A cookie the browser sends back only to this poll's own pages."""
    response.set_cookie(
        name, value, max_age=KEY_DAYS * 86400, path=f"/me/polls/{poll_id}", httponly=True,
        samesite="strict", secure=residents.pages.secure_cookie,
    )  # fmt: skip


def ballot_key(typed: Any, kept: Any) -> str:
    """The key typed (from another device or a note), else the one this device keeps (or
    the form carried), else a new one."""
    return usable_key(typed) or usable_key(kept) or new_ballot_key()


def receipt_page(
    residents: Residents, request: Request, resident: Resident | None, poll: dict[str, Any],
    done: dict[str, Any], key: str,
) -> Response:  # fmt: skip
    """What a voter keeps: the receipt, the ballot key, where to check them."""
    return residents.render(request, "receipt.html.j2", resident, poll=poll,
                            done=done, key=key)  # fmt: skip
