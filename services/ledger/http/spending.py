"""Spending: requesting a disbursement, reading it, the decisions on it (approve, reject,
void, post), and reversing an entry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from services.ledger.application.ledger import DECIDERS, Action, Ledger
from services.ledger.application.requests import DecisionIn, DisbursementIn, ReversalIn
from services.ledger.domain.accounts import ID_PATTERN
from services.ledger.http.answers import RESPONSES, Auth, response

DisbursementId = Annotated[str, Path(pattern=ID_PATTERN)]
DECISIONS: dict[Action, str] = {
    "approve": "An approver's party approves; N of M approvals make it approved.",
    "reject": "An approver's party rejects it; the hold is released.",
    "void": "A clerk withdraws it; the hold is released.",
    "post": "The treasurer records the payment of an approved disbursement.",
}


def spending(ledger: Ledger) -> APIRouter:
    router = APIRouter()

    @router.post("/disbursements", status_code=201, responses=RESPONSES)
    async def request_disbursement(
        body: DisbursementIn, authorization: Auth = None
    ) -> JSONResponse:
        """Ask to spend; the amount is held until the request is posted, rejected or voided."""
        return response(await ledger.request_disbursement(authorization, body))

    @router.get("/disbursements/{disbursement_id}", responses=RESPONSES)
    async def get_disbursement(
        disbursement_id: DisbursementId, authorization: Auth = None
    ) -> dict[str, Any]:
        return await ledger.disbursement(authorization, disbursement_id)

    for action in DECIDERS:
        router.post(
            f"/disbursements/{{disbursement_id}}/{action}", status_code=201, responses=RESPONSES
        )(decision(ledger, action))

    @router.post("/reversals", status_code=201, responses=RESPONSES)
    async def reverse(body: ReversalIn, authorization: Auth = None) -> JSONResponse:
        """Correct a mistake with the entry that cancels the original (which stays)."""
        return response(await ledger.reverse(authorization, body))

    return router


def decision(ledger: Ledger, action: Action):
    """The route of one decision (named ``<action>_disbursement``)."""

    async def decide(
        disbursement_id: DisbursementId,
        body: DecisionIn | None = None,
        authorization: Auth = None,
    ) -> JSONResponse:
        request = body or DecisionIn()
        return response(await ledger.decide(authorization, disbursement_id, action, request))

    decide.__name__ = f"{action}_disbursement"
    decide.__doc__ = DECISIONS[action]
    return decide
