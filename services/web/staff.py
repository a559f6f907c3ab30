"""The web console's application object for people: accounts, sign-in, sessions, the audit
trail, and the short-lived tokens the console calls the services with. HTTP and the
``linli web users`` commands both use it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.web.domain.accounts import (
    AccountError,
    LockoutRule,
    Scope,
    SessionRule,
    check_new_account,
    check_password,
)
from services.web.store import WebStore
from shared.staff_tokens import StaffClaims, sign

HASHER = PasswordHasher()  # argon2id with the library's current defaults
# verified against when the user is unknown, so both answers take as long
DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


class SignInRefused(Exception):
    """``reason``: "failed" (unknown user, wrong password, disabled) or "locked"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Person:
    """A signed-in person: who, their scope, and their session's CSRF token."""

    username: str
    name: str
    scope: Scope
    csrf: str


def scope_of(user: dict[str, Any]) -> Scope:
    return Scope(user["role"], user["code"], user.get("party"))


class Staff:
    def __init__(
        self,
        store: WebStore,
        *,
        lockout: LockoutRule,
        sessions: SessionRule,
        token_secret: str,
        token_ttl: timedelta,
        clock: Callable[[], datetime],
    ):
        self.store, self.lockout, self.sessions = store, lockout, sessions
        self._secret, self._ttl, self.clock = token_secret, token_ttl, clock

    # accounts (operators, through `linli web users`) -----------------------------------------
    async def create_user(self, username: str, password: str, scope: Scope, name: str) -> None:
        check_new_account(username, password, scope)
        doc = {
            "_id": username,
            "name": name or username,
            "role": scope.role,
            "code": scope.code,
            "party": scope.party,
            "hash": await asyncio.to_thread(HASHER.hash, password),
            "active": True,
            "failures": 0,
            "locked_until": None,
            "created_at": self.clock(),
        }
        if not await self.store.add_user(doc):
            raise AccountError(f"user {username} exists")

    async def set_active(self, username: str, active: bool) -> None:
        if not await self.store.update_user(username, {"active": active}):
            raise AccountError(f"no user {username}")
        if not active:
            await self.store.drop_sessions_of(username)

    async def reset_password(self, username: str, password: str) -> None:
        check_password(password)
        changes = {
            "hash": await asyncio.to_thread(HASHER.hash, password),
            "failures": 0,
            "locked_until": None,
        }
        if not await self.store.update_user(username, changes):
            raise AccountError(f"no user {username}")
        await self.store.drop_sessions_of(username)  # a new password ends every session

    # sign-in and sessions --------------------------------------------------------------------
    async def sign_in(self, username: str, password: str, address: str) -> str:
        """A new session's cookie value (never one the browser offered: no fixation)."""
        now = self.clock()
        user = await self.store.user(username) if username else None
        if user is not None and self.lockout.locked(user.get("locked_until"), now):
            await self._audit(username, "sign-in", address, "locked")
            raise SignInRefused("locked")
        good = await asyncio.to_thread(_verify, user["hash"] if user else DUMMY_HASH, password)
        if user is None or not good or not user.get("active"):
            if user is not None:
                failures, until = self.lockout.after_failure(user.get("failures", 0), now)
                await self.store.update_user(
                    username, {"failures": failures, "locked_until": until}
                )
            await self._audit(username[:40], "sign-in", address, "failed")
            raise SignInRefused("failed")
        await self.store.update_user(username, {"failures": 0, "locked_until": None})
        cookie = secrets.token_urlsafe(32)
        await self.store.add_session(
            cookie,
            {"user": username, "csrf": secrets.token_urlsafe(32), "created_at": now,
             "seen_at": now, "address": address, "name": user.get("name", username),
             "role": user["role"], "code": user["code"], "party": user.get("party")},
        )  # fmt: skip
        await self._audit(username, "sign-in", address, "ok")
        return cookie

    async def person(self, cookie: str, touch: bool = True) -> Person | None:
        """The person of a live session; None when unknown or expired. One ``_id`` read: the
        session carries the account's scope (disabling an account or resetting its password
        deletes its sessions). ``touch=False``: the read does not count as activity (a live
        board left open must not keep an idle session alive)."""
        if not cookie or len(cookie) > 100:
            return None
        session = await self.store.session(cookie)
        if session is None:
            return None
        now = self.clock()
        if self.sessions.expired(session["created_at"], session["seen_at"], now):
            await self.store.drop_session(cookie)
            return None
        if touch and self.sessions.needs_touch(session["seen_at"], now):
            await self.store.touch_session(cookie, now)
        return Person(session["user"], session["name"], scope_of(session), session["csrf"])

    async def sign_out(self, cookie: str, person: Person, address: str) -> None:
        await self.store.drop_session(cookie)
        await self._audit(person.username, "sign-out", address, "ok")

    # the services' trust ---------------------------------------------------------------------
    def token_for(self, person: Person) -> str:
        exp = int((self.clock() + self._ttl).timestamp())
        s = person.scope
        return sign(self._secret, StaffClaims(person.username, s.role, s.code, exp, s.party))

    async def audit(
        self, person: Person, what: str, address: str, outcome: str, **details: Any
    ) -> None:
        await self._audit(person.username, what, address, outcome, **details)

    async def _audit(self, who: str, what: str, address: str, outcome: str, **details: Any):
        await self.store.audit(
            {"at": self.clock(), "who": who, "what": what, "from": address,
             "outcome": outcome, **details}
        )  # fmt: skip


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False
