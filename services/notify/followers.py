"""Residents who follow someone else's report: remember who follows which issue, and tell
them every later status change on their own channels and in their own language.

Who follows an issue is one document per issue, ``{_id: issue_id, refs: [...], languages:
{ref: language}}``, read and written by exact id only (FerretDB answers nothing else without
a scan). So that issues nobody follows cost no extra read, a follow also marks the issue on
the reporter's resident record (``followed_issues``), which every status change reads anyway
for the reporter's own message; only a marked issue (or an anonymous report, which has no
record to mark) has its followers read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

from services.notify.delivery import Deliverer
from services.notify.domain import follower_recipients
from services.notify.notices import Notice, recipient_of
from services.notify.store import NotifyStore
from services.notify.timing import stage
from shared.events import Envelope
from shared.events.follow import IssueFollowedV1
from shared.mongo import upsert

FOLLOWED_ISSUES = "followed_issues"  # field of the reporter's resident record
NO_REPORTER = ""  # ``Notice.resident_ref`` of an anonymous report's status change


class FollowerStore:
    def __init__(self, store: NotifyStore):
        self._residents = store.residents
        self.followers = store.db["followers"]

    async def add(self, event: IssueFollowedV1) -> None:
        """Idempotent: a redelivered follow adds nothing. The followers' document is written
        before the reporter's mark, so a marked issue always has it."""
        ref = event.resident_ref
        update: dict[str, Any] = {"$addToSet": {"refs": ref}}
        if event.language is not None:
            update["$set"] = {f"languages.{ref}": event.language}
        await upsert(self.followers, {"_id": event.issue_id}, update)
        if event.reporter_ref is not None and event.reporter_ref != ref:
            mark = {"$addToSet": {FOLLOWED_ISSUES: event.issue_id}}
            await upsert(self._residents, {"_id": event.reporter_ref}, mark)

    async def of_issue(self, issue_id: str) -> dict[str, Any] | None:
        return await self.followers.find_one({"_id": issue_id})


class Followers:
    """Tells the reporter and every follower of an issue about one of its status changes."""

    def __init__(self, store: NotifyStore, deliverer: Deliverer):
        self._store = store
        self._deliverer = deliverer
        self.records = FollowerStore(store)

    async def on_followed(self, _: Envelope, event: IssueFollowedV1) -> str:
        await self.records.add(event)
        return "ok"

    async def notify(self, notice: Notice) -> str:
        """Deliver ``notice`` to its reporter (none when ``resident_ref`` is ``NO_REPORTER``)
        and, under the same source event, to each follower; the reporter's outcome label."""
        reporter = notice.resident_ref or None
        if reporter is None:
            return await self._tell_followers(notice, None)
        with stage("resident"):  # the reporter's record also says whether anyone follows
            stored = await self._store.resident(reporter)
        own = self._deliverer.notify(notice, recipient_of(stored, notice.language))
        if notice.issue_id not in (stored or {}).get(FOLLOWED_ISSUES, ()):
            return await own
        outcome, _ = await _all(own, self._tell_followers(notice, reporter))
        return outcome

    async def _tell_followers(self, notice: Notice, reporter: str | None) -> str:
        if notice.issue_id is None:
            return "skipped"
        with stage("followers"):
            doc = await self.records.of_issue(notice.issue_id) or {}
        refs = follower_recipients(notice.kind, doc.get("refs", ()), reporter)
        languages = doc.get("languages") or {}
        copies = [replace(notice, resident_ref=ref, language=languages.get(ref)) for ref in refs]
        await _all(*(self._deliverer.notify(copy) for copy in copies))
        return "followers" if refs else "skipped"


async def _all(*sends: Awaitable[str]) -> list[str]:
    """Run the sends together, each to its end (a send cut off half-way would leave its
    delivery in doubt), then raise the first failure: the redelivery redoes only what is
    not done yet, by the deliveries' idempotency keys."""
    outcomes = await asyncio.gather(*sends, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return list(outcomes)
