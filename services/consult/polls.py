"""Polls as a use case: drafts, opening (the roll frozen), closing and counting, and the
announcements that follow. Each step writes one document at a time and can be repeated;
``tick`` finishes whatever a crash left half done (announce, remind, close, count, publish)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from services.consult.domain.polls import Amend, Close, Open, Poll, Refused, check_rules, decide
from services.consult.domain.rolls import household_key
from services.consult.notices import Notices
from services.consult.records import poll_from_doc, poll_to_doc
from services.consult.store import ConsultStore, Stale, insert_missing
from services.consult.voting import Voting
from shared.logging import get_logger
from shared.reference.tree import Tree

log = get_logger("linli.consult")


def new_poll_id() -> str:
    return "poll_" + secrets.token_hex(6)


_STALE_RETRIES = 3  # attempts that may meet the timer's change before the last one


class Polls:
    def __init__(
        self,
        store: ConsultStore,
        voting: Voting,
        notices: Notices,
        tree: Tree,
        clock: Callable[[], datetime],
        settle_s: float,
    ):
        self._store, self._voting, self._notices = store, voting, notices
        self._tree, self._clock, self._settle_s = tree, clock, settle_s

    async def doc(self, poll_id: str) -> dict[str, Any]:
        doc = await self._store.get(self._store.polls, poll_id)
        if doc is None:
            raise Refused("not_found", f"no poll {poll_id}", "path.poll_id")
        return doc

    async def create(self, poll: Poll, remind_before_h: int) -> dict[str, Any]:
        check_rules(poll.rules)
        doc = poll_to_doc(poll, {"remind_before_h": remind_before_h, "created_at": self._clock()})
        if not await self._store.insert(self._store.polls, doc):
            raise Refused("exists", f"poll {poll.id} exists", "body.poll_id")
        return doc

    async def _apply(self, doc: dict[str, Any], command: Any) -> dict[str, Any]:
        poll = decide(poll_from_doc(doc), command, self._clock())
        new = poll_to_doc(poll, doc)
        await self._store.replace(self._store.polls, new, doc["version"])
        return new

    async def amend(self, poll_id: str, amend: Amend) -> dict[str, Any]:
        return await self._apply(await self.doc(poll_id), amend)

    async def open(self, poll_id: str) -> dict[str, Any]:
        """Freeze the roll (households of the buildings under the node, each with its
        eligibility token), then open; announced to the households at once."""
        return await self._again_when_stale(self._open, poll_id)

    async def close(self, poll_id: str) -> dict[str, Any]:
        """Close, wait for casts already past their check, count and publish."""
        return await self._again_when_stale(self._close, poll_id)

    async def _again_when_stale(
        self, step: Callable[[str], Awaitable[dict[str, Any]]], poll_id: str
    ) -> dict[str, Any]:
        """The office's open or close, taken again from the poll as it now is when consult's
        own timer changed it at the same moment (announcing, closing on time, publishing):
        each step finishes what the other began, so the office gets the outcome, not 409."""
        for _ in range(_STALE_RETRIES):
            try:
                return await step(poll_id)
            except Stale:
                await asyncio.sleep(0.05)
        return await step(poll_id)

    async def _open(self, poll_id: str) -> dict[str, Any]:
        doc = await self.doc(poll_id)
        if doc["status"] == "open":  # a retry (e.g. after a 503): finish the announcement
            return doc if doc.get("announced") else await self._announce(doc)
        if doc["status"] != "draft":
            raise Refused("not_draft", f"the poll is already {doc['status']}", "path.poll_id")
        size = await self._freeze_roll(poll_id, doc["node_id"])
        doc = await self._apply(doc, Open(roll_size=size))
        return await self._announce(doc)

    async def _freeze_roll(self, poll_id: str, node_id: str) -> int:
        buildings = [n.id for n in self._tree.descendants(node_id, "building")]
        node = self._tree.get(node_id)
        if node is not None and node.level == "building":
            buildings.append(node_id)
        roll, tokens = [], []
        cursor = self._store.households.find({"building": {"$in": buildings}})
        async for hh in cursor:
            roll.append({"_id": hh["_id"], "refs": hh["resident_refs"], "language": hh["language"]})
            tokens.append({"_id": self._voting.token(poll_id, hh["_id"])})
        await insert_missing(self._store.roll(poll_id), roll)
        await insert_missing(self._store.tokens(poll_id), tokens)
        return await self._store.roll(poll_id).count_documents({})

    async def _close(self, poll_id: str) -> dict[str, Any]:
        doc = await self.doc(poll_id)
        if doc["status"] == "closed":  # a retry: finish counting and publishing
            return doc if doc.get("results_published") else await self._publish_results(doc)
        doc = await self._apply(doc, Close())
        await asyncio.sleep(self._settle_s)
        return await self._publish_results(doc)

    async def _announce(self, doc: dict[str, Any]) -> dict[str, Any]:
        await self._notices.opened(doc, self._store.roll(doc["_id"]))
        return await self._flag(doc, "announced")

    async def _flag(self, doc: dict[str, Any], name: str, value: Any = True, **more: Any) -> dict:
        new = {**doc, name: value, **more, "version": doc["version"] + 1}
        await self._store.replace(self._store.polls, new, doc["version"])
        return new

    async def _publish_results(self, doc: dict[str, Any]) -> dict[str, Any]:
        poll = poll_from_doc(doc)
        if not doc.get("results"):
            doc = await self._flag(doc, "results", await self._voting.tally(poll))
        await self._notices.results(doc, self._store.roll(poll.id))
        return await self._flag(doc, "results_published")

    async def _remind(self, doc: dict[str, Any]) -> dict[str, Any]:
        async def not_voted(household: str) -> bool:
            token = self._voting.token(doc["_id"], household)
            return not await self._store.has_voted(doc["_id"], token)

        await self._notices.reminders(doc, self._store.roll(doc["_id"]), not_voted)
        return await self._flag(doc, "reminded")

    async def tick(self) -> None:
        """Finish what is due: announcements, reminders, closing times, results."""
        now = self._clock()
        async for doc in self._store.all(self._store.polls):
            try:
                await self._tick_one(doc, now)
            except Exception as exc:  # one poll's trouble never stops the others
                log.warning("poll_tick_failed", poll=doc["_id"], error=repr(exc))

    async def _tick_one(self, doc: dict[str, Any], now: datetime) -> None:
        closes = doc.get("closes_at")
        if doc["status"] == "open":
            if not doc.get("announced"):
                doc = await self._announce(doc)
            if closes and now >= closes:
                await self.close(doc["_id"])
                return
            remind_at = closes - timedelta(hours=doc.get("remind_before_h", 24)) if closes else None
            if remind_at and now >= remind_at and not doc.get("reminded"):
                await self._remind(doc)
        elif doc["status"] == "closed" and not doc.get("results_published"):
            await self._publish_results(doc)
        elif doc["status"] == "closed" and not doc.get("sealed"):
            await self._seal(doc)

    async def _seal(self, doc: dict[str, Any]) -> None:
        """After the results: how many households voted (their bindings), which can never be
        fewer than the counted ballots; then the records kept in arrival order are dropped
        (README: secret ballots). Off the closing path: counting the bindings reads them all."""
        if "households_voted" not in doc:
            bound = await self._store.households_voted(doc["_id"])
            if doc["results"]["turnout"] > bound:
                log.error("more_ballots_than_voters", poll=doc["_id"], voted=bound)
            doc = await self._flag(doc, "households_voted", bound)
        await self._store.drop_arrival_order(doc["_id"])
        await self._flag(doc, "sealed")

    async def visible_to(self, refs_households: list[str]) -> list[dict[str, Any]]:
        """Polls whose frozen roll holds one of these households (open or closed)."""
        found = []
        async for doc in self._store.all(self._store.polls):
            if doc["status"] == "draft":
                continue
            roll = self._store.roll(doc["_id"])
            for household in refs_households:
                if await roll.find_one({"_id": household}, {"_id": 1}):
                    found.append(doc)
                    break
        return found

    async def under(self, node_id: str) -> list[dict[str, Any]]:
        """Every poll at or below ``node_id``, drafts included (an office's list: it scans the
        polls, a few hundred documents, never a hot read)."""
        return [
            doc
            async for doc in self._store.all(self._store.polls)
            if self._tree.is_within(doc["node_id"], node_id)
        ]

    async def roll_of(self, poll_id: str) -> list[dict[str, Any]]:
        """The households on the poll's frozen roll, each with whether a member has a phone
        (those without are the ones to print paper codes for); in the roll's own order."""
        cursor = self._store.roll(poll_id).find({}, {"refs": 1})
        return [{"household": doc["_id"], "phone": bool(doc.get("refs"))} async for doc in cursor]

    async def household_on_roll(self, poll_id: str, household: str) -> bool:
        return bool(await self._store.roll(poll_id).find_one({"_id": household}, {"_id": 1}))


__all__ = ["Polls", "household_key", "new_poll_id"]
