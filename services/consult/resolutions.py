"""Three-party resolutions as a use case: a motion by a compound's party, each party's
verdict, and the outcome published to the compound's residents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from services.consult.domain.polls import Refused
from services.consult.domain.resolutions import Decide, Resolution, Vote, decide, parties_for
from services.consult.notices import Notices
from services.consult.store import ConsultStore
from shared.reference.tree import Tree


def resolution_from_doc(doc: dict[str, Any]) -> Resolution:
    """The domain value (the ``announced`` flag is the adapter's, not the domain's)."""
    return Resolution(
        id=doc["_id"],
        compound=doc["compound"],
        title=doc["title"],
        text=doc["text"],
        parties=tuple(doc["parties"]),
        status=doc["status"],
        votes=tuple(Vote(**v) for v in doc["votes"]),
        poll_id=doc.get("poll_id"),
        disbursement_id=doc.get("disbursement_id"),
        decided_at=doc.get("decided_at"),
        version=doc["version"],
    )


def resolution_to_doc(resolution: Resolution) -> dict[str, Any]:
    doc = asdict(resolution)
    doc["_id"] = doc.pop("id")
    doc["parties"] = list(resolution.parties)
    doc["votes"] = [asdict(v) for v in resolution.votes]
    return doc


class Resolutions:
    def __init__(
        self, store: ConsultStore, notices: Notices, tree: Tree, clock: Callable[[], datetime]
    ):
        self._store, self._notices, self._tree, self._clock = store, notices, tree, clock

    async def propose(self, resolution: Resolution) -> dict[str, Any]:
        compound = self._tree.get(resolution.compound)
        if compound is None or compound.level != "compound":
            raise Refused("unknown", "compound must be a compound of the tree", "body.compound")
        if resolution.poll_id and not await self._store.get(self._store.polls, resolution.poll_id):
            raise Refused("unknown", f"no poll {resolution.poll_id}", "body.poll_id")
        parties = parties_for(bool(getattr(compound, "has_property_company", False)))
        doc = resolution_to_doc(Resolution(**{**asdict(resolution), "parties": parties}))
        if not await self._store.insert(self._store.resolutions, doc):
            raise Refused("exists", f"resolution {resolution.id} exists", "body.resolution_id")
        return doc

    async def get(self, resolution_id: str) -> dict[str, Any]:
        doc = await self._store.get(self._store.resolutions, resolution_id)
        if doc is None:
            raise Refused("not_found", f"no resolution {resolution_id}", "path.resolution_id")
        return doc

    async def of(self, compound: str) -> list[dict[str, Any]]:
        """A compound's resolutions (its parties' list; a scan)."""
        return [
            doc
            async for doc in self._store.all(self._store.resolutions)
            if doc["compound"] == compound
        ]

    async def decide(self, resolution_id: str, command: Decide) -> dict[str, Any]:
        doc = await self.get(resolution_id)
        decided = decide(resolution_from_doc(doc), command, self._clock())
        new = {**resolution_to_doc(decided), "announced": decided.status == "pending"}
        await self._store.replace(self._store.resolutions, new, doc["version"])
        return await self.announce(new)

    async def announce(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Publish a decided resolution to its compound (again after a crash or Kafka
        outage: the event ids are derived, notify delivers once), then mark it announced."""
        if doc.get("announced", True):
            return doc
        await self._notices.resolution(doc, await self._households(doc["compound"]))
        await self._store.resolutions.update_one({"_id": doc["_id"]}, {"$set": {"announced": True}})
        return {**doc, "announced": True}

    async def tick(self) -> None:
        """Announce the decided resolutions a failure left unannounced."""
        async for doc in self._store.all(self._store.resolutions):
            if doc.get("announced") is False:
                await self.announce(doc)

    async def _households(self, compound: str) -> list[dict[str, Any]]:
        buildings = [n.id for n in self._tree.descendants(compound, "building")]
        cursor = self._store.households.find({"building": {"$in": buildings}})
        return [
            {"_id": hh["_id"], "refs": hh["resident_refs"], "language": hh["language"]}
            async for hh in cursor
        ]
