"""Notify's HTTP routes for residents' phone sign-in (``signin_codes``): ask for a code, trade
the code for the resident's reference and token, and (outside production) read the texts a
missing SMS gateway would have sent."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal

import httpx
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.channels import AddressedMessage, SendFailed, SmsChannel
from services.notify.domain import Contact
from services.notify.rendering import Message
from services.notify.signin_codes import (
    CODE_TTL,
    PHONE_PATTERN,
    CodeRefused,
    SigninCodes,
    code_text,
)
from shared.events import utcnow
from shared.http.errors import ApiError
from shared.http.schema import error_responses
from shared.settings import Settings


class CodeAsked(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    phone: str = Field(
        min_length=5,
        max_length=20,
        pattern=PHONE_PATTERN,
        description="The resident's phone number: 5 to 15 digits, spaces, brackets or dashes",
    )
    language: Literal["zh-CN", "en"] = "zh-CN"
    client_address: str | None = Field(
        None, max_length=100, description="The person's address, as the web saw it (for the "
        "per-address limit); the caller's own address when absent",
    )  # fmt: skip


class CodeSent(BaseModel):
    status: Literal["sent"] = "sent"
    expires_in_s: int


class CodeGiven(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    phone: str = Field(min_length=5, max_length=20, pattern=PHONE_PATTERN)
    code: str = Field(min_length=1, max_length=12)


class ResidentSignedIn(BaseModel):
    resident_ref: str
    resident_token: str = Field(description="Bearer token for the resident's own data")


class OutboxText(BaseModel):
    to: str
    text: str
    at: str


class Outbox(BaseModel):
    texts: list[OutboxText]


STATUS = {"bad_phone": 400, "too_many": 429, "wrong": 401, "expired": 410}
FIELD = {"bad_phone": "body.phone", "wrong": "body.code", "expired": "body.code"}


def _refused(exc: CodeRefused) -> ApiError:
    headers = {"Retry-After": "900"} if exc.reason == "too_many" else None
    return ApiError(STATUS[exc.reason], exc.reason, str(exc), FIELD.get(exc.reason), headers)


Send = Callable[[str, str, str], Awaitable[None]]


def signin_router(
    settings: Settings,
    db: AsyncDatabase,
    client: httpx.AsyncClient,
    clock: Callable[[], datetime] = utcnow,
) -> APIRouter:
    codes = SigninCodes(
        db,
        secret=settings.resident_secret.get_secret_value(),
        clock=clock,
        per_address=settings.notify_signin_codes_per_address,
    )
    production = settings.env == "production"
    router = APIRouter(prefix="/api/v1", tags=["sign-in"])
    _code_routes(router, codes, _sender(codes, _sms(settings, client), production))
    _outbox_routes(router, codes, production)
    return router


def _sms(settings: Settings, client: httpx.AsyncClient) -> SmsChannel | None:
    """The SMS gateway's channel, or None when no gateway is configured."""
    return (
        SmsChannel(client, url=settings.sms_gateway_url,
                   secret=settings.sms_gateway_secret.get_secret_value())
        if settings.sms_gateway_url else None
    )  # fmt: skip


def _sender(codes: SigninCodes, sms: SmsChannel | None, production: bool) -> Send:
    """Sends a code by SMS; without a gateway, to the outbox (refused in production)."""

    async def send(phone: str, code: str, language: str) -> None:
        title, body = code_text(code, language)
        if sms is None:
            if production:
                raise ApiError(503, "no_sms", "no SMS gateway is configured")
            await codes.to_outbox(phone, f"【邻里】{title}：{body}")
            return
        outgoing = AddressedMessage(
            delivery_id=f"signin-{secrets.token_hex(8)}", source_event="signin-code",
            resident_ref="", contact=Contact(phone=phone),
            message=Message("signin-code", language, title, body),
        )  # fmt: skip
        try:
            await sms.send(outgoing)
        except SendFailed as exc:
            raise ApiError(503, "sms_failed", "the code could not be sent; try again") from exc

    return send


def _code_routes(router: APIRouter, codes: SigninCodes, send: Send) -> None:
    """Asking for a code and trading it for the resident's token."""

    @router.post(
        "/residents/signin-codes",
        status_code=202,
        response_model=CodeSent,
        responses=error_responses(400, 422, 429, 503),
    )
    async def ask_code(body: CodeAsked, request: Request) -> CodeSent:
        """Send a one-time sign-in code to the phone by SMS (valid minutes, single use).
        Limited per number and per address (429 with Retry-After)."""
        address = body.client_address or (request.client.host if request.client else "-")
        try:
            phone, code = await codes.new_code(body.phone, address)
        except CodeRefused as exc:
            raise _refused(exc) from exc
        await send(phone, code, body.language)
        return CodeSent(expires_in_s=int(CODE_TTL.total_seconds()))

    @router.post(
        "/residents/signin",
        response_model=ResidentSignedIn,
        responses=error_responses(400, 401, 410, 422, 503),
    )
    async def sign_in(body: CodeGiven) -> ResidentSignedIn:
        """Trade the phone's live code for the resident's reference and token (the code is
        used up; five wrong tries void it)."""
        try:
            done = await codes.check(body.phone, body.code)
        except CodeRefused as exc:
            raise _refused(exc) from exc
        return ResidentSignedIn(resident_ref=done.resident_ref, resident_token=done.resident_token)


def _outbox_routes(router: APIRouter, codes: SigninCodes, production: bool) -> None:
    """Outside production: the texts a missing SMS gateway would have sent."""

    @router.get("/dev/sms-outbox", response_model=Outbox, responses=error_responses(404, 422))
    async def dev_outbox(to: str = Query(min_length=5, max_length=20, pattern=r"^[0-9]+$")):
        """Development only (404 in production): the texts sent to a number without a gateway."""
        if production:
            raise ApiError(404, "not_found", "there is no outbox in production")
        texts = await codes.outbox_for(to)
        return Outbox(
            texts=[OutboxText(to=t["to"], text=t["text"], at=t["at"].isoformat()) for t in texts]
        )
