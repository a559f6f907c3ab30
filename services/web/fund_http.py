"""The fund desk: campaigns and their balances, front-desk donations (offline with a receipt
number, or goods), disbursement requests, the three parties' approvals and the treasurer's
posting. Every write goes to the ledger with the person's token; the ledger checks the role,
the party and the fund. The requests made here are listed from the console's audit trail."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from services.web.backends import ServiceError
from services.web.domain.charts import progress_bar
from services.web.pages import Pages, Refusal, client_address, see_other
from services.web.staff import Person

YUAN = re.compile(r"^\d{1,10}(\.\d{1,2})?$")
ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
DECISIONS = {"approve": "fund-approver", "reject": "fund-approver", "post": "fund-treasurer",
             "void": "fund-clerk"}  # fmt: skip
# the statuses in which each decision is offered (the ledger decides in the end)
OPEN_TO = {"approve": ("requested",), "reject": ("requested",), "post": ("approved",),
           "void": ("requested", "approved")}  # fmt: skip


def fen(text: str, field: str) -> int:
    """Yuan as typed ("12" or "12.50") in fen; anything else is refused naming the field."""
    text = text.strip()
    if not YUAN.match(text):
        raise Refusal(400, "invalid", f"{field}: yuan, e.g. 120 or 120.50")
    whole, _, cents = text.partition(".")
    amount = int(whole) * 100 + int((cents + "00")[:2])
    if amount <= 0:
        raise Refusal(400, "invalid", f"{field}: more than 0")
    return amount


def donation_body(form: Any) -> dict[str, Any]:
    channel = form.get("channel")
    if channel not in ("offline", "in-kind"):
        raise Refusal(400, "invalid", "channel: offline or in-kind")
    body: dict[str, Any] = {
        "donation_id": form.get("donation_id") or uuid.uuid4().hex,
        "campaign": form.get("campaign", ""),
        "channel": channel,
        "amount_fen": fen(str(form.get("amount", "")), "amount"),
    }
    if form.get("receipt"):
        body["receipt_book_no"] = form["receipt"]
    if channel == "in-kind":
        body["item"] = form.get("item") or None
        body["valuation_method"] = form.get("valuation") or None
    if form.get("donor"):
        body["donor"] = {"name": form["donor"], "named": form.get("named") == "yes"}
    return body


def disbursement_body(form: Any) -> dict[str, Any]:
    return {
        "disbursement_id": form.get("disbursement_id") or uuid.uuid4().hex,
        "fund": form.get("fund", ""),
        "project": form.get("project", ""),
        "amount_fen": fen(str(form.get("amount", "")), "amount"),
        "payee": form.get("payee", ""),
        "purpose": form.get("purpose", ""),
    }


def decision_body(form: Any) -> dict[str, Any]:
    return {k: form[k] for k in ("reason", "payment_ref") if form.get(k)}


def router(pages: Pages) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    _desk_routes(web, pages)
    _request_routes(web, pages)
    _decision_routes(web, pages)
    return web


async def _ledger(
    pages: Pages, person: Person, path: str, body: dict[str, Any] | None = None
) -> Any:
    try:
        return await pages.backends.ledger(pages.staff.token_for(person), path, body)
    except ServiceError as exc:
        raise pages.service_refusal(exc) from exc


async def _requested(pages: Pages, person: Person) -> list[dict[str, Any]]:
    """The disbursements asked for through the console, newest first, as the ledger
    has them now (those this person may not read are left out)."""
    ids = [a["target"] for a in await pages.staff.store.recent_audit(
        50, what="fund:disbursement", outcome="ok")]  # fmt: skip
    found = []
    for disbursement_id in dict.fromkeys(ids):
        try:
            found.append(
                await pages.backends.ledger(
                    pages.staff.token_for(person), f"/disbursements/{disbursement_id}"
                )
            )
        except ServiceError:
            continue
    return found


async def _write(
    pages: Pages, request: Request, what: str, path: str,
    build: Callable[[Any], dict[str, Any]],
) -> Response:  # fmt: skip
    """Posts the form's request to the ledger as the person, audited either way."""
    person = await pages.person(request)
    pages.needs_page(person, "fund")
    form = await pages.form(request, person)
    body = build(form)
    target = body.get("disbursement_id") or body.get("donation_id") or path
    try:
        await _ledger(pages, person, path, body)
    except Refusal:
        await pages.staff.audit(person, what, client_address(request), "refused",
                                target=target)  # fmt: skip
        raise
    await pages.staff.audit(person, what, client_address(request), "ok", target=target)
    return see_other("/fund?done=1")


def _desk_routes(web: APIRouter, pages: Pages) -> None:
    """The desk: the person's campaigns with their progress and the requested disbursements."""

    @web.get("/fund")
    async def desk(request: Request, done: str = "") -> Response:
        person = await pages.person(request)
        pages.needs_page(person, "fund")
        try:
            campaigns = await pages.backends.campaigns()
        except ServiceError as exc:
            raise pages.service_refusal(exc) from exc
        mine = [c for c in campaigns if person.scope.code in ("*", c["id"])]
        bars = {
            c["id"]: progress_bar(c["name"], c["raised"]["total"], c["goal_fen"],
                                  f"{c['raised']['total'] / 100:,.2f} / {c['goal_fen'] / 100:,.2f}")
            for c in mine
        }  # fmt: skip
        return pages.render(
            request, "fund.html.j2", person, campaigns=mine, done=done == "1",
            disbursements=await _requested(pages, person), decisions=DECISIONS, open_to=OPEN_TO,
            bars=bars, new_id=lambda: uuid.uuid4().hex,
        )  # fmt: skip


def _request_routes(web: APIRouter, pages: Pages) -> None:
    """Front-desk donations and disbursement requests."""

    @web.post("/fund/donations")
    async def donate(request: Request) -> Response:
        return await _write(pages, request, "fund:donation", "/donations", donation_body)

    @web.post("/fund/disbursements")
    async def request_disbursement(request: Request) -> Response:
        return await _write(
            pages, request, "fund:disbursement", "/disbursements", disbursement_body
        )


def _decision_routes(web: APIRouter, pages: Pages) -> None:
    """The approvers', the treasurer's and the clerk's decisions on a disbursement."""

    @web.post("/fund/disbursements/{disbursement_id}/{decision}")
    async def decide(
        request: Request,
        disbursement_id: Annotated[str, Path(pattern=ID)],
        decision: Annotated[str, Path(max_length=20)],
    ) -> Response:
        if decision not in DECISIONS:
            raise Refusal(404, "notfound")
        path = f"/disbursements/{disbursement_id}/{decision}"
        return await _write(pages, request, f"fund:{decision}", path, decision_body)
