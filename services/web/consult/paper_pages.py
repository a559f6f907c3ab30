"""The paper-code ballot, for households without a phone: no sign-in; the printed one-time
code goes in the form with the choice. The ballot key is made with the form (so a form sent
again after a failure carries the same key) and shown on the receipt page to note on the
paper (a change needs the code and that key)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.consult.ballots import POLL_ID, BadChoice, choice_of, new_ballot_key
from services.web.consult.common import resident_call as call
from services.web.consult.resident_pages import ballot_key, receipt_page
from services.web.residents.common import ResidentRefusal, Residents

POLL = re.compile(POLL_ID)
CODE = re.compile(r"^[A-Za-z0-9-]{8,40}$")


def router(residents: Residents) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    @web.get("/paper")
    async def paper(request: Request, poll: str = "") -> Response:
        """Without a poll: ask for its number (printed beside the code); with one: its form."""
        if not poll:
            return residents.render(request, "paper.html.j2", None, poll=None)
        found = await _open_poll(residents, poll)
        return residents.render(request, "paper.html.j2", None, poll=found,
                                fresh_key=new_ballot_key())  # fmt: skip

    @web.post("/paper")
    async def vote(request: Request) -> Response:
        form = await residents.form(request, None)
        poll = await _open_poll(residents, str(form.get("poll", "")))
        code = str(form.get("paper_code", "")).strip().upper()
        try:
            if not CODE.match(code):
                raise BadChoice("paper_code: the code printed on your sheet, e.g. 1A2B-3C4D-...")
            choice = choice_of(poll, {k: form.getlist(k) for k in form})
        except BadChoice as exc:
            return residents.render(request, "paper.html.j2", None, 400, poll=poll,
                                    error=str(exc), fresh_key=form.get("fresh_key"))  # fmt: skip
        key = ballot_key(form.get("ballot_key"), form.get("fresh_key"))
        body = {"paper_code": code, "choice": choice, "ballot_key": key}
        done = await call(residents, "POST", f"/polls/{poll['poll_id']}/ballots", json=body)
        return receipt_page(residents, request, None, poll, done, key)

    return web


async def _open_poll(residents: Residents, poll_id: str) -> dict[str, Any]:
    if not POLL.match(poll_id):
        raise ResidentRefusal(404, "notfound")
    poll = await call(residents, "GET", f"/polls/{poll_id}")
    if poll["status"] != "open":
        raise ResidentRefusal(409, "c.err.poll_not_open")
    return poll
