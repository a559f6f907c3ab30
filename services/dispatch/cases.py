"""Dispatch's use case for a new report: route it, record the case, tell everyone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.dispatch.domain import RoutingError, RoutingTable, route
from services.dispatch.store import CaseStore
from shared.events import (
    DepartmentTaskV1,
    Envelope,
    IssueAssignedV1,
    IssueReportedV1,
    Owner,
    derived_event_id,
    utcnow,
)
from shared.kafka.consumer import PoisonMessage
from shared.kafka.publisher import EventPublisher
from shared.reference import Reference
from shared.topics import ISSUES_LIFECYCLE, dept_tasks


class Dispatcher:
    def __init__(
        self,
        *,
        store: CaseStore,
        publisher: EventPublisher,
        reference: Reference,
        routing: RoutingTable,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._store = store
        self._publisher = publisher
        self._reference = reference
        self._routing = routing
        self._clock = clock

    async def on_reported(self, envelope: Envelope, event: IssueReportedV1) -> str:
        return await self._store.processed.once(envelope.id, lambda: self._assign(event))

    def _decide(self, event: IssueReportedV1) -> dict:
        category = self._reference.categories.get(event.category)
        node = self._reference.tree.get(event.node_id)
        if category is None or node is None:
            raise PoisonMessage(f"unknown category or place in {event.issue_id}")
        path = tuple((n.id, n.level) for n in (*self._reference.tree.ancestors(node.id), node))
        try:
            assignment = route(
                category=category.code,
                group=category.group,
                category_department=category.department,
                priority=event.priority,
                node_path=path,
                table=self._routing,
                now=self._clock(),
            )
        except RoutingError as exc:
            raise PoisonMessage(str(exc)) from exc
        return {
            "_id": event.issue_id,
            "category": event.category,
            "node_id": event.node_id,
            "description": event.description,
            "priority": event.priority,
            "resident_ref": event.resident_ref,
            "language": event.language,
            "status": "assigned",
            "owner": self._owner(assignment.owner_kind, assignment.owner_code).model_dump(),
            "ack_due": assignment.ack_due,
            "resolve_due": assignment.resolve_due,
            "reported_at": event.reported_at,
            "assigned_at": self._clock(),
            "version": 1,
        }

    def _owner(self, kind: str, code: str) -> Owner:
        if kind == "department":
            name = self._reference.departments[code].name
        else:
            name = self._reference.tree[code].name
        return Owner(kind=kind, code=code, name=name.zh_CN, name_en=name.en)

    async def _assign(self, event: IssueReportedV1) -> None:
        case = await self._store.open_case(self._decide(event))
        owner = Owner(**case["owner"])
        await self._publisher.publish(
            ISSUES_LIFECYCLE,
            IssueAssignedV1(
                issue_id=case["_id"],
                category=case["category"],
                node_id=case["node_id"],
                owner=owner,
                ack_due=case["ack_due"],
                resolve_due=case["resolve_due"],
                resident_ref=case["resident_ref"],
                language=case.get("language"),
                assigned_at=case["assigned_at"],
            ),
            key=case["_id"],
            event_id=derived_event_id(case["_id"], "assigned", "1"),
        )
        if owner.kind == "department":
            task_id = derived_event_id(case["_id"], "task", owner.code, "new")
            await self._publisher.publish(
                dept_tasks(owner.code),
                DepartmentTaskV1(
                    task_id=task_id,
                    issue_id=case["_id"],
                    department=owner.code,
                    action="new",
                    category=case["category"],
                    node_id=case["node_id"],
                    description=case["description"],
                    priority=case["priority"],
                    ack_due=case["ack_due"],
                    resolve_due=case["resolve_due"],
                    resident_ref=case["resident_ref"],
                    sent_at=case["assigned_at"],
                ),
                key=case["_id"],
                event_id=task_id,
            )
