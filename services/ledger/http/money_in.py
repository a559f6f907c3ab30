"""Money in: opening a campaign (a restricted fund) and recording donations at a front desk."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.ledger.application.ledger import Ledger
from services.ledger.application.requests import CampaignIn, DonationIn
from services.ledger.domain.refusals import AnswerStatus
from services.ledger.http.answers import RESPONSES, Auth, response


def money_in(ledger: Ledger) -> APIRouter:
    router = APIRouter()

    @router.post("/campaigns", status_code=201, responses=RESPONSES)
    async def create_campaign(body: CampaignIn, authorization: Auth = None) -> JSONResponse:
        """Open a campaign: a restricted fund with goal, period, projects and approval rule."""
        opened = await ledger.open_campaign(authorization, body)
        status = AnswerStatus.CREATED if opened.created else AnswerStatus.EXISTS
        return JSONResponse(
            {"status": status, "campaign": opened.campaign},
            status_code=201 if opened.created else 200,
        )

    @router.post("/donations", status_code=201, responses=RESPONSES)
    async def donate(body: DonationIn, authorization: Auth = None) -> JSONResponse:
        """A front desk records a donation (cash or bank with a receipt book number, or goods
        with their valuation). The donor's contact, if given, goes only to notify."""
        return response(await ledger.donate(authorization, body))

    return router
