"""Residents' sessions, apart from staff sessions (own cookie, own collection).

A resident signs in with a one-time code that notify checks; notify answers with the
resident's reference and token, which the session keeps: the web never holds the secret that
mints tokens, so it can only ever act for residents who signed in here.

``resident_sessions`` (the web's database): ``_id`` = SHA-256 of the cookie; the reference,
the token, the phone (the contact for reports filed while signed in), the CSRF token, when it
began and was last seen. Every read is by ``_id``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from services.web.domain.accounts import SessionRule
from services.web.store import session_key

RESIDENT_COOKIE = "linli_resident"


@dataclass(frozen=True)
class Resident:
    ref: str
    token: str
    phone: str
    csrf: str

    @property
    def masked_phone(self) -> str:
        return self.phone[:3] + "****" + self.phone[-4:] if len(self.phone) >= 7 else "****"


class ResidentSessions:
    def __init__(self, db: AsyncDatabase, rule: SessionRule, clock: Callable[[], datetime]):
        self.sessions, self.rule, self.clock = db["resident_sessions"], rule, clock

    async def start(self, ref: str, token: str, phone: str) -> str:
        """A new session's cookie (never one the browser offered: no fixation)."""
        cookie, now = secrets.token_urlsafe(32), self.clock()
        await self.sessions.insert_one(
            {"_id": session_key(cookie), "ref": ref, "token": token, "phone": phone,
             "csrf": secrets.token_urlsafe(32), "created_at": now, "seen_at": now}
        )  # fmt: skip
        return cookie

    async def resident(self, cookie: str) -> Resident | None:
        if not cookie or len(cookie) > 100:
            return None
        doc = await self.sessions.find_one({"_id": session_key(cookie)})
        if doc is None:
            return None
        now = self.clock()
        if self.rule.expired(doc["created_at"], doc["seen_at"], now):
            await self.end(cookie)
            return None
        if self.rule.needs_touch(doc["seen_at"], now):
            await self.sessions.update_one({"_id": doc["_id"]}, {"$set": {"seen_at": now}})
        return Resident(doc["ref"], doc["token"], doc["phone"], doc["csrf"])

    async def end(self, cookie: str) -> None:
        await self.sessions.delete_one({"_id": session_key(cookie)})
