"""Consult's events: the public facts, and one notice per household for notify (each event
id derived from the poll, the kind and the household, so a repeated announcement is the
same event and notify delivers it once)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared.events import derived_event_id
from shared.events.consult import (
    ConsultNoticeV1,
    PollOpenedV1,
    PollResultsPublishedV1,
    ResolutionDecidedV1,
)
from shared.kafka.publisher import EventPublisher, Outgoing
from shared.reference.tree import Tree
from shared.topics import CONSULT_EVENTS, CONSULT_NOTICES

BATCH = 500


class Notices:
    def __init__(self, publisher: EventPublisher, tree: Tree):
        self._publisher, self._tree = publisher, tree
        publisher.declare(CONSULT_EVENTS, PollOpenedV1)
        publisher.declare(CONSULT_EVENTS, PollResultsPublishedV1)
        publisher.declare(CONSULT_EVENTS, ResolutionDecidedV1)
        publisher.declare(CONSULT_NOTICES, ConsultNoticeV1)

    def _place(self, node_id: str, language: str) -> str:
        node = self._tree.get(node_id)
        return node.name.get(language) if node else node_id

    async def _fan_out(
        self,
        roll: AsyncCollection | list[dict[str, Any]],
        notice: Callable[[dict[str, Any]], ConsultNoticeV1 | None],
        wanted: Callable[[str], Awaitable[bool]] | None = None,
    ) -> int:
        batch: list[Outgoing] = []
        sent = 0
        source = roll if isinstance(roll, list) else roll.find({})
        async for household in _aiter(source):
            if not household.get("refs") or (wanted and not await wanted(household["_id"])):
                continue
            event = notice(household)
            if event is None:
                continue
            batch.append(Outgoing(CONSULT_NOTICES, event, event.notice_id, event.notice_id))
            if len(batch) >= BATCH:
                await self._publisher.publish_many(batch)
                sent, batch = sent + len(batch), []
        if batch:
            await self._publisher.publish_many(batch)
        return sent + len(batch)

    def _notice(self, doc: dict[str, Any], kind: str, household: dict, summary: str = ""):
        language = household.get("language") or "zh-CN"
        notice_id = derived_event_id(doc["_id"], kind, household["_id"])
        return ConsultNoticeV1(
            notice_id=notice_id,
            kind=kind,
            resident_refs=household["refs"][:20],
            language=language,
            subject_id=doc["_id"],
            title=doc["question"],
            place=self._place(doc["node_id"], language),
            closes_at=doc.get("closes_at"),
            summary=summary,
        )

    async def opened(self, doc: dict[str, Any], roll: AsyncCollection) -> None:
        event = PollOpenedV1(
            poll_id=doc["_id"],
            node_id=doc["node_id"],
            question=doc["question"],
            kind=doc["kind"],
            options={o["id"]: o["label"] for o in doc["options"]},
            roll_size=doc["roll_size"],
            quorum_percent=doc["quorum_percent"],
            opened_at=doc["opened_at"],
            closes_at=doc.get("closes_at"),
        )
        event_id = derived_event_id(doc["_id"], "opened")
        await self._publisher.publish(CONSULT_EVENTS, event, key=doc["_id"], event_id=event_id)
        await self._fan_out(roll, lambda hh: self._notice(doc, "poll-opened", hh))

    async def reminders(
        self, doc: dict[str, Any], roll: AsyncCollection, not_voted: Callable
    ) -> int:
        return await self._fan_out(
            roll, lambda hh: self._notice(doc, "poll-reminder", hh), not_voted
        )

    async def results(self, doc: dict[str, Any], roll: AsyncCollection) -> None:
        results = doc["results"]
        labels = {o["id"]: o["label"] for o in doc["options"]}
        winners = [labels[w] for w in results["outcome"]["winners"]]
        event = PollResultsPublishedV1(
            poll_id=doc["_id"],
            node_id=doc["node_id"],
            question=doc["question"],
            roll_size=results["roll_size"],
            turnout=results["turnout"],
            quorum_met=results["quorum_met"],
            winners=winners,
            result=results["outcome"],
            ballots_digest=results["ballots_digest"],
            closed_at=doc["closed_at"],
        )
        event_id = derived_event_id(doc["_id"], "results")
        await self._publisher.publish(CONSULT_EVENTS, event, key=doc["_id"], event_id=event_id)
        summary = "、".join(winners)
        await self._fan_out(roll, lambda hh: self._notice(doc, "poll-results", hh, summary))

    async def resolution(self, doc: dict[str, Any], households: list[dict[str, Any]]) -> None:
        event = ResolutionDecidedV1(
            resolution_id=doc["_id"],
            compound=doc["compound"],
            title=doc["title"],
            status=doc["status"],
            votes=[
                {"party": v["party"], "verdict": v["verdict"], "reason": v["reason"]}
                for v in doc["votes"]
            ],
            poll_id=doc.get("poll_id"),
            disbursement_id=doc.get("disbursement_id"),
            decided_at=doc["decided_at"],
        )
        event_id = derived_event_id(doc["_id"], "decided")
        await self._publisher.publish(CONSULT_EVENTS, event, key=doc["_id"], event_id=event_id)
        doc = {**doc, "question": doc["title"], "node_id": doc["compound"]}
        await self._fan_out(
            households, lambda hh: self._notice(doc, "resolution-decided", hh, doc["status"])
        )


async def _aiter(source: Any):
    if isinstance(source, list):
        for item in source:
            yield item
    else:
        async for item in source:
            yield item
