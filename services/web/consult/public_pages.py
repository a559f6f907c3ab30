"""The public side of consult: the polls page (the demo naming poll, a poll by its number),
a poll's published results with its turnout, checking a receipt in the published ballots,
and the ballots as CSV for anyone to recount (``linli consult recount``). No sign-in."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.backends import ServiceError
from services.web.consult.ballots import POLL_ID, receipt_status, turnout_share
from services.web.consult.common import consult, refusal_of
from services.web.pages import Pages, Refusal, see_other

DEMO_POLL = "poll_jiading_name"  # services/consult/demo.py
POLL = re.compile(POLL_ID)
RECEIPT = re.compile(r"^r_[0-9a-f]{32}$")


def router(pages: Pages) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    @web.get("/public/polls")
    async def polls(request: Request, poll: str = "") -> Response:
        if poll:
            return see_other(f"/public/polls/{poll}" if POLL.match(poll) else "/public/polls")
        demo = await _poll_or_none(pages, DEMO_POLL)
        return pages.render(request, "public/polls.html.j2", None, demo=demo)

    @web.get("/public/polls/{poll_id}")
    async def results(request: Request, poll_id: str, receipt: str = "") -> Response:
        poll = await _poll(pages, poll_id)
        ballots = await _ballots(pages, poll) if poll["status"] == "closed" else None
        checked = None
        if receipt and ballots is not None:
            receipt = receipt.strip()[:40]
            checked = receipt_status(receipt, ballots) if RECEIPT.match(receipt) else "missing"
        return pages.render(
            request, "public/poll.html.j2", None, poll=poll, receipt=receipt, checked=checked,
            share=turnout_share(poll.get("results") or {}),
        )  # fmt: skip

    @web.get("/public/polls/{poll_id}/ballots.csv")
    async def ballots_csv(poll_id: str) -> Response:
        poll = await _poll(pages, poll_id)
        if poll["status"] != "closed":
            return see_other(f"/public/polls/{poll_id}")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["receipt", "prev", "choice"])
        for b in await _ballots(pages, poll):
            writer.writerow([b["receipt"], b.get("prev") or "", " ".join(b["choice"])])
        headers = {"Content-Disposition": f'attachment; filename="{poll_id}-ballots.csv"'}
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)

    return web


async def _poll(pages: Pages, poll_id: str) -> dict[str, Any]:
    if not POLL.match(poll_id):
        raise Refusal(404, "notfound")
    try:
        poll = await consult(pages.backends, "GET", f"/polls/{poll_id}")
    except ServiceError as exc:
        raise refusal_of(exc, pages) from exc
    if poll["status"] == "draft":  # an office's draft is not public yet
        raise Refusal(404, "notfound")
    return poll


async def _poll_or_none(pages: Pages, poll_id: str) -> dict[str, Any] | None:
    try:
        return await consult(pages.backends, "GET", f"/polls/{poll_id}")
    except ServiceError:
        return None


async def _ballots(pages: Pages, poll: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        found = await consult(pages.backends, "GET", f"/polls/{poll['poll_id']}/ballots")
    except ServiceError as exc:
        raise refusal_of(exc, pages) from exc
    return found["ballots"]
