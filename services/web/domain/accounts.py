"""Staff accounts and their sessions: roles bound to a place, a department or a fund role;
lock-out after repeated failures; idle and absolute session timeouts. Time is an argument."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.staff_tokens import ROLES

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}$")
PARTY = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 200
# what each role opens in the console
PAGES = {
    "office": ("cases", "deadlines", "rates", "polls"),
    "department": ("cases", "rates"),
    "fund-clerk": ("fund",),
    "fund-treasurer": ("fund",),
    "fund-approver": ("fund",),
    "operator": ("broadcasts", "overview"),
    "compound-party": ("resolutions",),
}
PARTY_ROLES = ("fund-approver", "compound-party")  # the roles that speak for one party


class AccountError(ValueError):
    """An account that cannot be created as asked; the message says why."""


@dataclass(frozen=True)
class Scope:
    """A role and where it holds: a node id (office, operator), a compound's node id (a
    compound party, with its party), a department code, or a fund id or ``*`` (fund roles,
    with the approver's party)."""

    role: str
    code: str
    party: str | None = None

    @property
    def pages(self) -> tuple[str, ...]:
        return PAGES[self.role]


def check_new_account(username: str, password: str, scope: Scope) -> None:
    if not USERNAME.match(username):
        raise AccountError("user name: 3-40 of a-z 0-9 . _ -, starting with a letter or digit")
    check_password(password)
    if scope.role not in ROLES:
        raise AccountError(f"role is one of {', '.join(ROLES)}")
    if not scope.code or len(scope.code) > 200:
        raise AccountError("scope: a node id, department code or fund id is needed")
    if scope.role in PARTY_ROLES and not (scope.party and PARTY.match(scope.party)):
        raise AccountError(f"a {scope.role} needs a party (e.g. party-branch, owners-committee)")
    if scope.role not in PARTY_ROLES and scope.party:
        raise AccountError("only a fund approver or a compound party has a party")


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")


@dataclass(frozen=True)
class LockoutRule:
    failures: int
    wait: timedelta

    def locked(self, locked_until: datetime | None, now: datetime) -> bool:
        return locked_until is not None and now < locked_until

    def after_failure(self, failures_so_far: int, now: datetime) -> tuple[int, datetime | None]:
        """(failures now, locked until): the count restarts once a lock is set."""
        count = failures_so_far + 1
        if count >= self.failures:
            return 0, now + self.wait
        return count, None


@dataclass(frozen=True)
class SessionRule:
    idle: timedelta
    absolute: timedelta
    touch_every: timedelta = timedelta(seconds=60)

    def expired(self, created_at: datetime, seen_at: datetime, now: datetime) -> bool:
        return now - seen_at > self.idle or now - created_at > self.absolute

    def needs_touch(self, seen_at: datetime, now: datetime) -> bool:
        """Record activity at most once a minute (a write per request would double a page's
        cost on FerretDB)."""
        return now - seen_at >= self.touch_every
