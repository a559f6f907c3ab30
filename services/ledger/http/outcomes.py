"""The answer to a command that was answered 202 (the writer was slow)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from services.ledger.application.ledger import Ledger
from services.ledger.http.answers import response


def outcomes(ledger: Ledger) -> APIRouter:
    router = APIRouter()

    @router.get("/commands/{command_id}", responses={404: {"description": "Not done yet"}})
    async def command_outcome(command_id: Annotated[str, Path(max_length=64)]) -> JSONResponse:
        """The outcome of a command answered 202."""
        return response(await ledger.answer(command_id))

    return router
