"""Residents sign in with their phone: a one-time code sent by SMS, and on the right code the
resident's reference and token (notify holds the resident secret; the web never does).

Rules: a code is six digits, valid ``CODE_TTL``, single use (the matching read deletes it),
void after ``MAX_WRONG`` wrong tries; a new code replaces the old one. Codes are rate limited
per number and per client address (fixed windows). The code itself is never logged and never
stored: only its HMAC is.

Storage (notify's database; every read is by ``_id``):
- ``signin_codes``: ``_id`` = the number's resident reference; code HMAC, expiry, wrong tries.
- ``signin_limits``: ``_id`` = ``tel:<ref>`` or ``ip:<address>``; window start and count.
- ``dev_sms_outbox``: in development and tests without an SMS gateway, the texts that would
  have been sent (read back by the web's outbox page; production never writes or serves it).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.residents import normalise_contact, resident_ref, resident_token

CODE_TTL = timedelta(minutes=5)
MAX_WRONG = 5
PER_NUMBER = (3, timedelta(minutes=15))  # codes sent to one number per window
ADDRESS_WINDOW = timedelta(hours=1)  # per address: LINLI_NOTIFY_SIGNIN_CODES_PER_ADDRESS
# 5 to 15 digits (E.164's most), with an optional leading + and spaces, brackets or dashes
PHONE_PATTERN = r"^\+?(?:[ ()-]*[0-9]){5,15}[ ()-]*$"
PHONE = re.compile(PHONE_PATTERN)
CODE = re.compile(r"^[0-9]{6}$")


class CodeRefused(Exception):
    """``reason``: bad_phone, too_many (rate limited), wrong, expired (or used, or void)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignedIn:
    resident_ref: str
    resident_token: str


def phone_identity(phone: str) -> str:
    """The normalised ``tel:<digits>`` of a number, or ``CodeRefused``."""
    if not isinstance(phone, str) or len(phone) > 20 or not PHONE.match(phone):
        raise CodeRefused("bad_phone", "a phone number of 5 to 15 digits")
    identity = normalise_contact(phone, None)
    if identity is None:
        raise CodeRefused("bad_phone", "a phone number of 5 to 15 digits")
    return identity


class SigninCodes:
    def __init__(
        self,
        db: AsyncDatabase,
        *,
        secret: str,
        clock: Callable[[], datetime],
        per_address: int = 10,
    ):
        self.codes, self.limits = db["signin_codes"], db["signin_limits"]
        self.per_address = per_address
        self.outbox = db["dev_sms_outbox"]
        self._secret, self.clock = secret, clock

    def _mac(self, ref: str, code: str) -> str:
        key = f"signin-code:{self._secret}".encode()
        return hmac.new(key, f"{ref}:{code}".encode(), hashlib.sha256).hexdigest()

    async def new_code(self, phone: str, address: str) -> tuple[str, str]:
        """A fresh code for the number (replacing any earlier one): (normalised phone, code)."""
        identity = phone_identity(phone)
        ref = resident_ref(self._secret, identity)
        now = self.clock()
        if not await self._take(f"ip:{address[:100]}", self.per_address, ADDRESS_WINDOW, now):
            raise CodeRefused("too_many", "too many codes asked for from this address")
        if not await self._take(f"tel:{ref}", *PER_NUMBER, now):
            raise CodeRefused("too_many", "too many codes sent to this number; wait a while")
        code = f"{secrets.randbelow(10**6):06d}"
        doc = {"mac": self._mac(ref, code), "expires_at": now + CODE_TTL, "wrong": 0}
        await self.codes.replace_one({"_id": ref}, doc, upsert=True)
        return identity.removeprefix("tel:"), code

    async def check(self, phone: str, code: str) -> SignedIn:
        """The resident's reference and token when ``code`` is the number's live code; the
        code is used up by this (a second check of it fails)."""
        ref = resident_ref(self._secret, phone_identity(phone))
        if not isinstance(code, str) or not CODE.match(code):
            raise CodeRefused("wrong", "the code is six digits")
        doc = await self.codes.find_one({"_id": ref})
        if doc is None or doc["expires_at"] <= self.clock() or doc["wrong"] >= MAX_WRONG:
            raise CodeRefused("expired", "no live code for this number; ask for a new one")
        mac = self._mac(ref, code)
        if not hmac.compare_digest(doc["mac"], mac):
            await self.codes.update_one({"_id": ref, "mac": doc["mac"]}, {"$inc": {"wrong": 1}})
            raise CodeRefused("wrong", "the code is wrong")
        used = await self.codes.delete_one({"_id": ref, "mac": mac})
        if used.deleted_count != 1:  # another request used it first
            raise CodeRefused("expired", "the code was already used; ask for a new one")
        return SignedIn(ref, resident_token(self._secret, ref))

    async def _take(self, key: str, limit: int, window: timedelta, now: datetime) -> bool:
        """Count one in ``key``'s current window; False when the window is full."""
        for _ in range(3):
            counted = await self.limits.find_one_and_update(
                {"_id": key, "start": {"$gt": now - window}, "count": {"$lt": limit}},
                {"$inc": {"count": 1}},
            )
            if counted is not None:
                return True
            doc = await self.limits.find_one({"_id": key})
            if doc is not None and doc["start"] > now - window:
                return False
            try:
                if doc is None:
                    await self.limits.insert_one({"_id": key, "start": now, "count": 1})
                    return True
                restarted = await self.limits.update_one(
                    {"_id": key, "start": doc["start"]}, {"$set": {"start": now, "count": 1}}
                )
                if restarted.modified_count == 1:
                    return True
            except DuplicateKeyError:
                pass  # another request began the window: count in it
        return False

    # development outbox ----------------------------------------------------------------------
    async def to_outbox(self, to: str, text: str) -> None:
        await self.outbox.insert_one(
            {"_id": f"{self.clock().strftime('%Y%m%dT%H%M%S.%f')}-{secrets.token_hex(4)}",
             "to": to, "text": text, "at": self.clock()}
        )  # fmt: skip

    async def outbox_for(self, to: str, limit: int = 20) -> list[dict[str, Any]]:
        """The newest texts to a number (development only; a scan of a small collection)."""
        found = self.outbox.find({"to": to}).sort("_id", -1).limit(limit)
        return await found.to_list()


def code_text(code: str, language: str) -> tuple[str, str]:
    """The SMS's (title, body) in the resident's language."""
    minutes = int(CODE_TTL.total_seconds() // 60)
    if language == "en":
        return "Sign-in code", f"{code} is your code; it is valid for {minutes} minutes."
    return "登录验证码", f"{code}（{minutes} 分钟内有效，请勿告诉他人）"
