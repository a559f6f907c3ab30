"""How the ledger's results and refusals answer over HTTP: a use case's result as the
response, and its refusals registered with the platform's one error mapping."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from services.ledger.access import KeyRefused
from services.ledger.application.ledger import Accepted, Answered
from services.ledger.domain.idempotency import ConflictingReplay
from services.ledger.domain.refusals import AnswerStatus, CommandRefused, RefusalCode
from shared.http.errors import ApiError, ErrorMap

Auth = Annotated[str | None, Header(description="Bearer <ledger key>")]
# a refusal by the fund's writer: the state forbids it (409), the key's party may not (403), or
# what it names does not exist (404); malformed input and any other refusal are a 422
REFUSAL_STATUS = {
    RefusalCode.CONFLICT: 409,
    RefusalCode.OVERSPEND: 409,
    RefusalCode.ALREADY_REVERSED: 409,
    RefusalCode.NOT_REVERSIBLE: 409,
    RefusalCode.NOT_APPROVED: 409,
    RefusalCode.WRONG_STATUS: 409,
    RefusalCode.NOT_A_PARTY: 403,
    RefusalCode.NOT_FOUND: 404,
    RefusalCode.UNKNOWN_CAMPAIGN: 404,
    RefusalCode.UNKNOWN_FUND: 404,
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Exists: the same id with the same content was done before"},
    202: {"description": "Accepted; the writer is slow: poll the command's outcome"},
    401: {"description": "No or unknown key"},
    403: {"description": "The key may not do this"},
    404: {"description": "What it names does not exist (the field is named)"},
    409: {"description": "Refused: conflicting replay, overspend, or not in that state"},
    422: {"description": "A field is missing or malformed"},
    503: {"description": "Kafka or the database is down; nothing was accepted"},
}


def refusals(errors: ErrorMap) -> None:
    """How the ledger's refusals answer over HTTP (outages answer 503 by the map itself)."""
    errors.refuse(
        CommandRefused,
        lambda exc: ApiError(
            REFUSAL_STATUS.get(exc.code, 422), exc.code, exc.message, exc.field, extra=exc.extra
        ),
    )
    errors.refuse(
        ConflictingReplay,
        lambda exc: ApiError(409, RefusalCode.CONFLICT, str(exc), f"body.{exc.field}"),
    )
    errors.refuse(
        KeyRefused,
        lambda exc: ApiError(
            401 if exc.unknown else 403,
            "unauthenticated" if exc.unknown else "forbidden",
            str(exc),
            "header.authorization",
        ),
    )


def response(result: Answered | Accepted) -> JSONResponse:
    """201 done, 200 exists (a replay), 202 accepted with where to ask for the answer."""
    if isinstance(result, Accepted):
        return JSONResponse(
            {"status": AnswerStatus.ACCEPTED, "command_id": result.command_id},
            status_code=202,
            headers={"Location": f"/api/v1/commands/{result.command_id}"},
        )
    return JSONResponse(jsonable_encoder(result.outcome), status_code=200 if result.exists else 201)
