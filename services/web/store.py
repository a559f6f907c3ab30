"""The web console's own database (``<prefix>web``): people and sessions, nothing else.

Every hot read is an exact-``_id`` read (FerretDB v1 scans for any other filter):
- ``users``: ``_id`` = user name; the argon2 hash, the scope, failures and lock.
- ``sessions``: ``_id`` = SHA-256 of the session cookie (the cookie itself is never stored),
  the user, its CSRF token, when it began and was last seen.
- ``audit``: one document per sign-in, sign-out and action (who, when, what, from where);
  ``_id`` starts with the time so the newest sort first. Fund requests made through the
  console are read back from here (the fund desk lists them), by a scan of the small log.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


def session_key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


class WebStore:
    def __init__(self, db: AsyncDatabase):
        self.users = db["users"]
        self.sessions = db["sessions"]
        self.audit_log = db["audit"]

    async def prepare(self) -> None:
        """Nothing to index: every read is by ``_id``."""

    # users ----------------------------------------------------------------------------------
    async def add_user(self, doc: dict[str, Any]) -> bool:
        try:
            await self.users.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    async def user(self, username: str) -> dict[str, Any] | None:
        return await self.users.find_one({"_id": username})

    async def all_users(self) -> list[dict[str, Any]]:
        return await self.users.find({}).sort("_id", 1).to_list()

    async def update_user(self, username: str, changes: dict[str, Any]) -> bool:
        result = await self.users.update_one({"_id": username}, {"$set": changes})
        return result.matched_count == 1

    # sessions -------------------------------------------------------------------------------
    async def add_session(self, cookie: str, doc: dict[str, Any]) -> None:
        await self.sessions.insert_one({"_id": session_key(cookie), **doc})

    async def session(self, cookie: str) -> dict[str, Any] | None:
        return await self.sessions.find_one({"_id": session_key(cookie)})

    async def touch_session(self, cookie: str, now: datetime) -> None:
        await self.sessions.update_one({"_id": session_key(cookie)}, {"$set": {"seen_at": now}})

    async def drop_session(self, cookie: str) -> None:
        await self.sessions.delete_one({"_id": session_key(cookie)})

    async def drop_sessions_of(self, username: str) -> None:
        """Every session of an account (a scan: only when an operator disables or resets)."""
        await self.sessions.delete_many({"user": username})

    # audit ----------------------------------------------------------------------------------
    async def audit(self, doc: dict[str, Any]) -> None:
        at: datetime = doc["at"]
        await self.audit_log.insert_one(
            {"_id": f"{at.strftime('%Y%m%dT%H%M%S.%f')}-{secrets.token_hex(4)}", **doc}
        )

    async def recent_audit(self, limit: int = 200, **match: Any) -> list[dict[str, Any]]:
        found = self.audit_log.find(match).sort("_id", DESCENDING).limit(limit)
        return await found.to_list()
