"""Ledger's HTTP adapter for the front desks, treasurers and approvers. Writes become commands
on ``ledger.commands`` keyed by fund (the fund's single writer applies them); the request waits
for the outcome and answers 201 (done), 200 (``exists``: same id, same content), 409 (refused:
a conflicting replay names the differing field; an overspend says what it would leave), or 202
with a command id to poll when the writer is slow. Each route parses, calls the use case
(``services.ledger.application.ledger.Ledger``) and maps its result; refusals and outages
answer through the platform's one error mapping (``refusals``)."""

from __future__ import annotations

from fastapi import APIRouter

from services.ledger.application.ledger import Ledger
from services.ledger.http.answers import refusals
from services.ledger.http.money_in import money_in
from services.ledger.http.outcomes import outcomes
from services.ledger.http.spending import spending

__all__ = ["build_router", "refusals"]


def build_router(ledger: Ledger) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["ledger"])
    for part in (money_in(ledger), spending(ledger), outcomes(ledger)):
        router.include_router(part)
    return router
