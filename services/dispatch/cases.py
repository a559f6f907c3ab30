"""Dispatch's use cases: open a case from a report, apply a command (a department's or an
office's action, a resident's rating, a due timer), and publish what happened.

Every change is one conditional write of the case document (version filter) that also
stores the events to publish (the outbox); events are then published and the outbox cleared.
Event ids derive from (issue id, case version, ...), so a replica that dies between the
write and the publish leaves events that any later writer, or the outbox sweeper, publishes
with the same ids: nothing is lost and a department never gets a second task for one duty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.dispatch.domain.machine import (
    Case,
    Command,
    Effect,
    Holder,
    Rules,
    decide,
    open_case,
    timers,
)
from services.dispatch.domain.routing import RoutingError, RoutingTable, route
from services.dispatch.store import CaseStore, Conflict, case_from_doc, case_to_doc
from shared.events import (
    DepartmentTaskV1,
    Envelope,
    EventPayload,
    IssueAssignedV1,
    IssueReportedV1,
    Owner,
    derived_event_id,
    utcnow,
)
from shared.events.lifecycle import TRANSITIONS, IssueTransitionV1
from shared.kafka.consumer import PoisonMessage
from shared.kafka.publisher import EventPublisher
from shared.logging import get_logger
from shared.reference import Reference
from shared.topics import ISSUES_LIFECYCLE, dept_tasks

log = get_logger("linli.dispatch")
TRANSITION_BY_NAME = {t.event_type.split(".")[2]: t for t in TRANSITIONS}
SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_CONFLICT_RETRIES = 8


class CaseNotFound(LookupError):
    """No case with that issue id."""


@dataclass(frozen=True)
class Applied:
    case: Case
    duplicate: bool = False


class Dispatcher:
    def __init__(
        self,
        *,
        store: CaseStore,
        publisher: EventPublisher,
        reference: Reference,
        routing: RoutingTable,
        rules: Rules,
        clock: Callable[[], datetime] = utcnow,
        outbox_stale: timedelta = timedelta(seconds=5),
        replica: str = "",
    ):
        self._store = store
        self._publisher = publisher
        self._reference = reference
        self._routing = routing
        self.rules = rules
        self.clock = clock
        self._outbox_stale = outbox_stale
        self._replica = replica

    # -- a new report -----------------------------------------------------------------------
    async def on_reported(self, envelope: Envelope, event: IssueReportedV1) -> str:
        fresh = self._open(event)
        doc = await self._store.insert(fresh)
        if doc is fresh:
            await self.flush(doc)
            return "ok"
        await self._flush_if_stale(doc)
        return "duplicate"

    def _open(self, event: IssueReportedV1) -> dict[str, Any]:
        category = self._reference.categories.get(event.category)
        node = self._reference.tree.get(event.node_id)
        if category is None or node is None:
            raise PoisonMessage(f"unknown category or place in {event.issue_id}")
        path = tuple((n.id, str(n.level)) for n in (*self._reference.tree.ancestors(node.id), node))
        try:
            assignment = route(
                category=category.code,
                group=category.group,
                category_department=category.department,
                node_path=path,
                table=self._routing,
            )
        except RoutingError as exc:
            raise PoisonMessage(str(exc)) from exc
        now = self.clock()
        first = Holder(assignment.owner_kind, assignment.owner_code)  # type: ignore[arg-type]
        case = open_case(
            issue_id=event.issue_id,
            category=event.category,
            priority=event.priority,
            node_id=event.node_id,
            first=first,
            now=now,
            rules=self.rules,
        )
        doc = case_to_doc(case)
        duty = case.duties[0]
        doc.update(
            description=event.description,
            resident_ref=event.resident_ref,
            language=event.language,
            reported_at=event.reported_at,
            reported_month=now.astimezone(SHANGHAI).strftime("%Y-%m"),
            assigned_at=now,
            assigned_by=self._replica,
            places=[n for n, _ in path],
            actions=[],
            history=[],
            timers_version=0,
        )
        assigned = IssueAssignedV1(
            issue_id=case.issue_id,
            category=case.category,
            node_id=case.node_id,
            owner=self._owner(first),
            ack_due=duty.ack_due,
            resolve_due=duty.resolve_due,
            resident_ref=event.resident_ref,
            language=event.language,
            assigned_at=now,
        )
        outbox = [self._entry(ISSUES_LIFECYCLE, case.issue_id, assigned, "assigned", "1", now)]
        if first.kind == "department":
            outbox.append(self._task_entry(doc, case, first.code, "new", None, now))
        doc["outbox"], doc["outbox_at"] = outbox, utcnow()
        return doc

    # -- any later change -------------------------------------------------------------------
    async def apply(
        self, issue_id: str, command: Command, *, action_id: str | None = None
    ) -> Applied:
        """Decide and store ``command`` (retrying on a concurrent change), then publish.
        ``Refused`` propagates; an ``action_id`` seen before answers the case as it is."""
        for _ in range(MAX_CONFLICT_RETRIES):
            doc = await self._store.get(issue_id)
            if doc is None:
                raise CaseNotFound(issue_id)
            if action_id is not None and action_id in doc.get("actions", ()):
                await self._flush_if_stale(doc)
                return Applied(case_from_doc(doc), duplicate=True)
            case = case_from_doc(doc)
            now = self.clock()
            decision = decide(case, command, now, self.rules)
            new_doc = self._next_doc(doc, case, decision.case, decision.effects, now)
            if action_id is not None:
                new_doc["actions"] = [*doc.get("actions", ()), action_id]
            try:
                await self._store.replace(case.version, new_doc)
            except Conflict:
                continue
            await self.flush(new_doc)
            return Applied(decision.case)
        raise Conflict(issue_id)

    def _next_doc(
        self, doc: dict, old: Case, new: Case, effects: tuple[Effect, ...], now: datetime
    ) -> dict[str, Any]:
        new_doc = {**doc, **case_to_doc(new)}
        kept = {d.holder.code for d in new.duties}
        ended = [
            {**case_to_doc(old)["duties"][i], "ended_at": now, "ended_by": effects[0].name}
            for i, d in enumerate(old.duties)
            if d.holder.code not in kept
        ]
        new_doc["history"] = [*doc.get("history", ()), *ended]
        outbox = list(doc.get("outbox", ()))
        for index, effect in enumerate(effects):
            payload = self._transition(new_doc, new, effect, now)
            outbox.append(
                self._entry(
                    ISSUES_LIFECYCLE,
                    new.issue_id,
                    payload,
                    effect.name,
                    f"{new.version}.{index}",
                    now,
                )
            )
            for department, action in effect.tasks:
                outbox.append(self._task_entry(new_doc, new, department, action, effect, now))
        new_doc["outbox"] = outbox
        new_doc["outbox_at"] = min(e["stored"] for e in outbox) if outbox else None
        return new_doc

    # -- publishing -------------------------------------------------------------------------
    async def flush(self, doc: dict[str, Any], *, stale_only: bool = False) -> None:
        """Publish the outbox entries this writer stored (version ``doc["version"]``) and any
        left behind longer than ``outbox_stale`` by a writer that died; then forget them.
        Entries of a live writer are not published a second time; the timers are re-synced."""
        cutoff = utcnow() - self._outbox_stale
        mine = [
            e
            for e in doc.get("outbox") or ()
            if e["stored"] <= cutoff or (not stale_only and e["v"] == doc["version"])
        ]
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for entry in mine:
            by_topic.setdefault(entry["topic"], []).append(entry)

        async def in_order(entries: list[dict[str, Any]]) -> None:
            for entry in entries:
                envelope = Envelope(
                    type=entry["type"],
                    source=self._publisher.source,
                    subject=doc["_id"],
                    id=entry["id"],
                    time=entry["at"],
                )
                await self._publisher.publish_raw(
                    entry["topic"],
                    entry["body"].encode(),
                    key=doc["_id"],
                    headers=envelope.to_headers(),
                )

        # topics in parallel, each topic's events in order (order only matters per topic)
        await asyncio.gather(*(in_order(entries) for entries in by_topic.values()))
        if not stale_only:
            await self.resync_timers(doc)
        if mine:
            await self._forget(doc, {e["id"] for e in mine})

    async def resync_timers(self, doc: dict[str, Any]) -> None:
        case = case_from_doc(doc)
        await self._store.sync_timers(case, timers(case, self.rules), self.clock(), _keys(doc))

    async def _forget(self, doc: dict[str, Any], published: set[str]) -> None:
        current: dict[str, Any] | None = doc
        for _ in range(MAX_CONFLICT_RETRIES):
            if current is None:
                return
            remaining = [e for e in current.get("outbox") or () if e["id"] not in published]
            oldest = min((e["stored"] for e in remaining), default=None)
            if await self._store.set_outbox(current["_id"], current["version"], remaining, oldest):
                return
            current = await self._store.get(doc["_id"])

    async def _flush_if_stale(self, doc: dict[str, Any]) -> None:
        stored = doc.get("outbox_at")
        if stored is not None and stored <= utcnow() - self._outbox_stale:
            await self.flush(doc, stale_only=True)

    async def sweep_outbox(self) -> int:
        """Publish what a replica that died left in outboxes (same event ids)."""
        docs = await self._store.with_outbox(utcnow() - self._outbox_stale)
        for doc in docs:
            await self.flush(doc, stale_only=True)
        return len(docs)

    def _entry(
        self, topic: str, issue_id: str, payload: EventPayload, name: str, seq: str, at: datetime
    ) -> dict[str, Any]:
        return {
            "id": derived_event_id(issue_id, name, seq),
            "topic": topic,
            "type": payload.event_type,
            "body": payload.model_dump_json(),
            "at": at,
            "v": int(seq.split(".")[0]),
            "stored": utcnow(),
        }

    def _task_entry(
        self,
        doc: dict,
        case: Case,
        department: str,
        action: str,
        effect: Effect | None,
        at: datetime,
    ) -> dict[str, Any]:
        duty = case.duty(department) or case.duties[0]
        task = DepartmentTaskV1(
            task_id=derived_event_id(case.issue_id, "task", department, action, str(case.version)),
            issue_id=case.issue_id,
            department=department,
            action=action,  # type: ignore[arg-type]
            category=case.category,
            node_id=case.node_id,
            description=doc.get("description", ""),
            priority=case.priority,  # type: ignore[arg-type]
            ack_due=duty.ack_due,
            resolve_due=duty.resolve_due,
            resident_ref=doc.get("resident_ref"),
            sent_at=at,
            note=effect.reason if effect else None,
        )
        return {
            "id": task.task_id,
            "topic": dept_tasks(department),
            "type": task.event_type,
            "body": task.model_dump_json(),
            "at": at,
            "v": case.version,
            "stored": utcnow(),
        }

    def _transition(self, doc: dict, case: Case, effect: Effect, at: datetime) -> IssueTransitionV1:
        model = TRANSITION_BY_NAME[effect.name]
        active = case.active_duties
        return model(
            issue_id=case.issue_id,
            sequence=case.version,
            status=case.status,
            category=case.category,
            node_id=case.node_id,
            owner=self._owner(case.owner),
            departments=tuple(d.holder.code for d in active if d.holder.kind == "department"),
            actor=effect.actor,
            reason=effect.reason,
            public_note=effect.note,
            ack_due=min((d.ack_due for d in active), default=None),
            resolve_due=min((d.resolve_due for d in active), default=None),
            resident_ref=doc.get("resident_ref"),
            language=doc.get("language"),
            at=at,
        )

    def _owner(self, holder: Holder) -> Owner:
        if holder.kind == "department":
            name = self._reference.departments[holder.code].name
        else:
            name = self._reference.tree[holder.code].name
        return Owner(kind=holder.kind, code=holder.code, name=name.zh_CN, name_en=name.en)


def _keys(doc: dict[str, Any]) -> set[str]:
    """Every timer key the case may have: two lanes per holder it ever had, and its own."""
    holders = {d["holder"]["code"] for d in (*doc.get("duties", ()), *doc.get("history", ()))}
    return {"case:case"} | {f"{h}:{lane}" for h in holders for lane in ("ladder", "reprimand")}
