"""Dispatch's use cases: route a batch of reports, apply a command (a department's or an
office's action, a resident's rating, a due timer), and publish what happened.

Routing is batched: the new cases are inserted with unordered bulk inserts (a redelivered
report hits the unique issue id and the stored case wins), all their events published at
once (each acknowledged by Kafka), their timers placed with a few bulk writes; the consumer
commits the offsets only then, so a replica that dies midway has the batch redelivered and
the same effects replayed (same ids) while its outbox pointer remains; a report redelivered
after its effects were confirmed changes nothing.

A later change is one insert of the next version's change document (``<issue>:<version>``,
unique: the compare-and-set) carrying the new state and its events, then the head is
replaced. For every change (a routed batch: one for the batch), a pointer in the small
``outbox`` collection is written before it and deleted once its events are acknowledged and
its timers placed; the sweeper follows the pointers a dead writer left and publishes the
same events with the same ids. Event ids derive from (issue id, case version, ...): nothing
is lost and a department never gets a second task (by id) for one duty.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.dispatch.domain.machine import (
    Case,
    Command,
    Effect,
    Holder,
    Merge,
    MergeTarget,
    Rules,
    decide,
    open_case,
    timers,
)
from services.dispatch.domain.routing import Assignment, RoutingError, RoutingTable, route
from services.dispatch.store import CaseStore, Conflict, case_from_doc, case_to_doc
from services.dispatch.wheel import WheelStore, entries_of
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
from shared.kafka.publisher import EventPublisher, ReadyEvent
from shared.logging import get_logger
from shared.masking import mask_contacts
from shared.reference import Reference
from shared.topics import ISSUES_LIFECYCLE, dept_tasks

log = get_logger("linli.dispatch")
TRANSITION_BY_NAME = {t.event_type.split(".")[2]: t for t in TRANSITIONS}
SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_CONFLICT_RETRIES = 8
ABANDONED_AFTER = timedelta(seconds=60)  # a pointer whose change never got stored
SENDS_IN_FLIGHT = 16  # concurrent publishing changes (each sends all its events at once)
ROUTE_PART = 250  # reports per insert (FerretDB inserts 250 at once ~2x faster than 50 at once)

# a place's path from the root (id, level) and its first owner; or why it has none
FirstOwner = tuple[tuple[tuple[str, str], ...], Assignment] | str


class CaseNotFound(LookupError):
    """No case with that issue id."""


@dataclass(frozen=True)
class Applied:
    case: Case
    duplicate: bool = False


def _ms(moment: datetime) -> datetime:
    """Millisecond precision, as the database stores it (events rebuilt later match)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _without_nulls(doc: dict[str, Any]) -> dict[str, Any]:
    """A new case without its empty fields (fewer fields: a cheaper insert); readers take a
    missing field as None."""
    doc = {k: v for k, v in doc.items() if v is not None}
    doc["duties"] = [{k: v for k, v in d.items() if v is not None} for d in doc["duties"]]
    return doc


class Dispatcher:
    def __init__(
        self,
        *,
        store: CaseStore,
        wheel: WheelStore,
        publisher: EventPublisher,
        reference: Reference,
        routing: RoutingTable,
        rules: Rules,
        clock: Callable[[], datetime] = utcnow,
        outbox_stale: timedelta = timedelta(seconds=5),
        replica: str = "",
    ):
        self._store = store
        self._wheel = wheel
        self._publisher = publisher
        self._reference = reference
        self._routing = routing
        self._owners: dict[tuple[str, str], FirstOwner] = {}  # see _first_owner
        self.rules = rules
        self.clock = clock
        self._outbox_stale = outbox_stale
        self._replica = replica
        # changes publishing at once: more only wake each other up while the batches drain
        self._sending = asyncio.Semaphore(SENDS_IN_FLIGHT)

    # -- new reports ------------------------------------------------------------------------
    async def on_reported(self, envelope: Envelope, event: IssueReportedV1) -> str:
        [outcome] = await self.route([(envelope, event)])
        if isinstance(outcome, PoisonMessage):
            raise outcome
        return outcome or "ok"

    async def route(
        self, items: list[tuple[Envelope, EventPayload]]
    ) -> list[str | PoisonMessage | None]:
        """Route a batch of reports (the consumer's batch handler): one outcome per event.

        The consumer commits the offsets only after this returns, so a replica that dies
        midway has the batch redelivered, and a redelivered report whose case is stored
        publishes that case's events again (same ids) and places its timers again unless they
        were confirmed (no pointer names the case any more). The
        batch's outbox pointer (one document naming its reports) also lets the sweeper finish
        the job if the redelivery is late (a partition stuck in a rebalance). Parts of the
        batch are inserted concurrently, each part's events published as soon as it is stored (while
        the next parts are inserted), and the timers of all placed once all are stored."""
        outcomes: list[str | PoisonMessage | None] = [None] * len(items)
        fresh: dict[str, tuple[int, Case, dict[str, Any]]] = {}
        for index, (_, event) in enumerate(items):
            assert isinstance(event, IssueReportedV1)
            if event.issue_id in fresh:
                outcomes[index] = "duplicate"
                continue
            try:
                fresh[event.issue_id] = (index, *self._open(event))
            except PoisonMessage as exc:
                outcomes[index] = exc
        opened = list(fresh.values())
        if not opened:
            return outcomes
        pointer = self._batch_pointer(list(fresh), uuid.uuid4().hex[:12])
        await self._store.add_pending([pointer])
        parts = [opened[i : i + ROUTE_PART] for i in range(0, len(opened), ROUTE_PART)]
        existing: set[str] = set()
        async with asyncio.TaskGroup() as group:
            inserts = [group.create_task(self._store_part(part, pointer["_id"])) for part in parts]
            for insert in inserts:
                group.create_task(self._publish_part(insert))
            group.create_task(self._place_timers(inserts))
        for insert in inserts:
            existing |= insert.result()[1]
        await self._store.drop_pending([pointer["_id"]])
        for issue_id, (index, _, _) in fresh.items():
            outcomes[index] = "duplicate" if issue_id in existing else "ok"
        return outcomes

    async def _publish_part(self, insert: asyncio.Task[tuple[dict, set[str]]]) -> None:
        stored, _ = await insert
        await self._publish([e for _, doc in stored.values() for e in self._routed_events(doc)])

    async def _place_timers(self, inserts: list[asyncio.Task[tuple[dict, set[str]]]]) -> None:
        wanted = [
            entry
            for insert in inserts
            for case, _ in (await insert)[0].values()
            for entry in entries_of(case.issue_id, timers(case, self.rules))
        ]
        await self._wheel.enlist(wanted, self.clock())

    async def _store_part(
        self, opened: list[tuple[int, Case, dict[str, Any]]], pointer_id: str
    ) -> tuple[dict[str, tuple[Case, dict[str, Any]]], set[str]]:
        """Insert part of a batch; the cases whose effects are due (a redelivered report's
        stored case wins, and its effects are replayed with the same ids while a pointer
        says they are unconfirmed; confirmed ones are done), and the ids already stored."""
        docs = {doc["_id"]: (case, doc) for _, case, doc in opened}
        existing = await self._store.insert_cases([doc for _, _, doc in opened])
        if existing:
            unconfirmed = await self._store.pending_among(sorted(existing), pointer_id)
            for issue_id in existing - unconfirmed:
                del docs[issue_id]
            for doc in await self._store.heads(sorted(unconfirmed)):
                if doc is not None:
                    docs[doc["_id"]] = (case_from_doc(doc), doc)
        return docs, existing

    def _first_owner(self, category_code: str, node_id: str) -> FirstOwner:
        """The place's path from the root and the first owner, or why there is none. The
        reference data and the routing table are fixed for the process's life, so each
        (category, place) is worked out once."""
        key = (category_code, node_id)
        known = self._owners.get(key)
        if known is not None:
            return known
        category = self._reference.categories.get(category_code)
        node = self._reference.tree.get(node_id)
        if category is None or node is None:  # not kept: the keys kept are bounded
            return "unknown category or place"
        path = tuple((n.id, str(n.level)) for n in (*self._reference.tree.ancestors(node.id), node))
        try:
            answer: FirstOwner = (
                path,
                route(
                    category=category.code,
                    group=category.group,
                    category_department=category.department,
                    node_path=path,
                    table=self._routing,
                ),
            )
        except RoutingError as exc:
            answer = str(exc)
        self._owners[key] = answer
        return answer

    def _open(self, event: IssueReportedV1) -> tuple[Case, dict[str, Any]]:
        owner = self._first_owner(event.category, event.node_id)
        if isinstance(owner, str):
            raise PoisonMessage(f"{owner} in {event.issue_id}")
        path, assignment = owner
        now = _ms(self.clock())
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
        doc.update(
            description=event.description,
            media_url=event.media_url,  # the report's photo, for the staff's case page
            resident_ref=event.resident_ref,
            language=event.language,
            reported_at=event.reported_at,
            reported_month=now.astimezone(SHANGHAI).strftime("%Y-%m"),
            assigned_at=now,
            assigned_by=self._replica,
            first={  # the routing's events are rebuilt from it, any time
                "holder": doc["owner"],
                "ack_due": case.duties[0].ack_due,
                "resolve_due": case.duties[0].resolve_due,
            },
            places=[n for n, _ in path],
        )
        return case, _without_nulls(doc)

    def routed_events(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """Version 1's events of a stored case (its timeline's start)."""
        return self._routed_events(doc)

    def _routed_events(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """The events of version 1 (the assignment and a department's task), from the fields
        of the case that never change: the same bodies and ids whenever they are rebuilt."""
        first, at = doc["first"], doc["assigned_at"]
        holder = Holder(**first["holder"])
        assigned = IssueAssignedV1(
            issue_id=doc["_id"],
            category=doc["category"],
            node_id=doc["node_id"],
            owner=self._owner(holder),
            ack_due=first["ack_due"],
            resolve_due=first["resolve_due"],
            resident_ref=doc.get("resident_ref"),
            language=doc.get("language"),
            assigned_at=at,
        )
        events = [self._entry(ISSUES_LIFECYCLE, doc["_id"], assigned, "assigned", "1", at)]
        if holder.kind == "department":
            events.append(
                self._task_entry(
                    doc, 1, holder.code, first["ack_due"], first["resolve_due"], "new", None, at
                )
            )
        return events

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
                return Applied(case_from_doc(doc), duplicate=True)
            case = case_from_doc(doc)
            now = _ms(self.clock())
            if isinstance(command, Merge):
                command = replace(command, target=await self._merge_target(command.into))
            decision = decide(case, command, now, self.rules)
            new_doc, events = self._next_doc(doc, case, decision.case, decision.effects, now)
            if action_id is not None:
                new_doc["actions"] = [*doc.get("actions", ()), action_id]
            pointer = self._pointer(issue_id, decision.case.version, uuid.uuid4().hex[:12])
            await self._store.add_pending([pointer])
            try:
                await self._store.commit(new_doc, events)
            except Conflict:
                await self._store.drop_pending([pointer["_id"]])
                continue
            await self._store.put_head(new_doc)
            before = set(timers(case, self.rules))
            added = [t for t in timers(decision.case, self.rules) if t not in before]
            await self._effects(events, entries_of(issue_id, added))
            await self._store.drop_pending([pointer["_id"]])
            return Applied(decision.case)
        raise Conflict(issue_id)

    async def _merge_target(self, issue_id: str) -> MergeTarget | None:
        doc = await self._store.get(issue_id)
        if doc is None:
            return None
        return MergeTarget(doc["_id"], doc["node_id"], doc["status"])

    def _next_doc(
        self, doc: dict, old: Case, new: Case, effects: tuple[Effect, ...], now: datetime
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        new_doc = {**doc, **case_to_doc(new)}
        kept = {d.holder.code for d in new.duties}
        ended = [
            {
                **case_to_doc(old)["duties"][i],
                "ended_at": now,
                "ended_by": effects[0].name,
                "ended_actor": effects[0].actor,
            }
            for i, d in enumerate(old.duties)
            if d.holder.code not in kept
        ]
        new_doc["history"] = [*doc.get("history", ()), *ended]
        events = []
        for index, effect in enumerate(effects):
            payload = self._transition(new_doc, new, effect, now)
            events.append(
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
                duty = new.duty(department) or old.duty(department)
                assert duty is not None, f"a task for {department}, which holds no duty"
                events.append(
                    self._task_entry(
                        new_doc,
                        new.version,
                        department,
                        duty.ack_due,
                        duty.resolve_due,
                        action,
                        effect,
                        now,
                    )
                )
        return new_doc, events

    async def publish_one(
        self, topic: str, issue_id: str, payload: EventPayload, name: str, seq: str
    ) -> None:
        """Publish one event whose id derives from (issue, ``name``, ``seq``): a redelivered
        cause publishes it again with the same id."""
        await self._publish([self._entry(topic, issue_id, payload, name, seq, utcnow())])

    # -- side effects -----------------------------------------------------------------------
    def _pointer(self, issue_id: str, version: int, tag: str) -> dict[str, Any]:
        return {
            "_id": f"{issue_id}:{version}:{tag}",
            "issue_id": issue_id,
            "version": version,
            "stored": utcnow(),
        }

    def _batch_pointer(self, issue_ids: list[str], tag: str) -> dict[str, Any]:
        """One pointer for a routed batch (version 1 of each of its cases): one small insert
        and one delete by ``_id`` instead of one document per report."""
        return {"_id": f"route:{tag}", "issues": issue_ids, "version": 1, "stored": utcnow()}

    async def _effects(self, events: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> None:
        """Publish ``events`` (all acknowledged) and place the timer entries ``wanted``."""
        await asyncio.gather(self._publish(events), self._wheel.enlist(wanted, self.clock()))

    async def _publish(self, events: list[dict[str, Any]]) -> None:
        """Publish ``events`` at once and wait for every acknowledgement: they are enqueued
        in the order given, so the events of one issue on one topic keep their order (the
        idempotent producer keeps it per partition)."""
        ready = [
            ReadyEvent(e["topic"], e["key"], e["type"], e["body"], e["id"], e["at"]) for e in events
        ]
        async with self._sending:
            await self._publisher.publish_ready(ready)

    async def sweep_outbox(self) -> int:
        """Finish what a writer that died left behind: for each stale pointer, publish the
        events of its change (same ids) and place the case's current timers."""
        now = utcnow()
        pointers = await self._store.stale_pending(now - self._outbox_stale)
        for pointer in pointers:
            issue_ids, version = pointer.get("issues") or [pointer["issue_id"]], pointer["version"]
            docs = await self._store.heads(issue_ids)
            events: list[dict[str, Any]] = []
            wanted: list[dict[str, Any]] = []
            complete = True
            for issue_id, doc in zip(issue_ids, docs, strict=True):
                if version == 1:
                    found = self._routed_events(doc) if doc is not None else None
                else:
                    change = await self._store.change(issue_id, version)
                    found = change["events"] if change is not None else None
                if found is None:  # the change was never stored (its writer died first)
                    complete = False
                    continue
                assert doc is not None
                events.extend(found)
                wanted.extend(entries_of(issue_id, timers(case_from_doc(doc), self.rules)))
            if not complete and pointer["stored"] > now - ABANDONED_AFTER:
                continue  # its writer may still be storing it
            await self._store.queue.put([d for d in docs if d is not None])  # rows it left
            await self._effects(events, wanted)
            await self._store.drop_pending([pointer["_id"]])
            log.info("outbox_swept", issues=len(issue_ids), version=version)
        return len(pointers)

    def _entry(
        self, topic: str, issue_id: str, payload: EventPayload, name: str, seq: str, at: datetime
    ) -> dict[str, Any]:
        return {
            "id": derived_event_id(issue_id, name, seq),
            "topic": topic,
            "key": issue_id,
            "type": payload.event_type,
            "body": payload.model_dump_json(),
            "at": at,
        }

    def _task_entry(
        self,
        doc: dict,
        version: int,
        department: str,
        ack_due: datetime,
        resolve_due: datetime,
        action: str,
        effect: Effect | None,
        at: datetime,
    ) -> dict[str, Any]:
        issue_id = doc["_id"]
        task = DepartmentTaskV1(
            task_id=derived_event_id(issue_id, "task", department, action, str(version)),
            issue_id=issue_id,
            department=department,
            action=action,  # type: ignore[arg-type]
            category=doc["category"],
            node_id=doc["node_id"],
            description=mask_contacts(doc.get("description", "")),  # the office keeps it all
            priority=doc["priority"],
            ack_due=ack_due,
            resolve_due=resolve_due,
            resident_ref=doc.get("resident_ref"),
            sent_at=at,
            note=effect.reason if effect else None,
        )
        return {
            "id": task.task_id,
            "topic": dept_tasks(department),
            "key": issue_id,
            "type": task.event_type,
            "body": task.model_dump_json(),
            "at": at,
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
