"""Intake's use cases: submit a report (publish, then answer) and show it to its reporter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.intake.domain import ReportDraft, accept_report
from services.intake.store import IssueStore
from shared.events import utcnow
from shared.http.errors import ApiError, Unavailable
from shared.ids import new_id
from shared.kafka.publisher import EventPublisher, PublishFailed
from shared.residents import resident_token, token_matches
from shared.topics import ISSUES_REPORTED, RESIDENTS_CONTACTS


class ReportService:
    def __init__(
        self,
        *,
        publisher: EventPublisher,
        store: IssueStore,
        categories: dict,
        node_exists: Callable[[str], bool],
        secret: str,
        retry_after_s: int,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._publisher = publisher
        self._store = store
        self._categories = categories
        self._node_exists = node_exists
        self._secret = secret
        self._retry_after_s = retry_after_s
        self._clock = clock

    async def submit(self, draft: ReportDraft) -> tuple[str, str, str]:
        """Publish the report (and the contact, first) and return id, reference and token
        only once Kafka has acknowledged; otherwise ``Unavailable``."""
        accepted = accept_report(
            draft,
            categories=self._categories,
            node_exists=self._node_exists,
            issue_id=new_id("iss"),
            now=self._clock(),
            secret=self._secret,
        )
        issue = accepted.issue
        try:
            if accepted.contact is not None:
                await self._publisher.publish(
                    RESIDENTS_CONTACTS, accepted.contact, key=accepted.contact.resident_ref
                )
            await self._publisher.publish(
                ISSUES_REPORTED, issue, key=issue.issue_id, event_id=issue.issue_id
            )
        except PublishFailed as exc:
            raise Unavailable("Kafka", self._retry_after_s) from exc
        ref = issue.resident_ref or ""
        return issue.issue_id, ref, resident_token(self._secret, ref)

    async def view(self, issue_id: str, token: str) -> dict:
        try:
            doc = await self._store.get(issue_id)
        except Exception as exc:
            raise Unavailable("the database", self._retry_after_s) from exc
        if doc is None or not token_matches(self._secret, doc.get("resident_ref", ""), token):
            # the same answer for "absent" and "not yours": ids are not probed
            raise ApiError(404, "not_found", f"no issue {issue_id} for this token")
        return {
            "issue_id": doc["_id"],
            "category": doc.get("category", ""),
            "node_id": doc.get("node_id", ""),
            "status": doc.get("status", "reported"),
            "owner": doc.get("owner"),
            "reported_at": _iso(doc.get("reported_at")),
            "ack_due": _iso(doc.get("ack_due")),
            "resolve_due": _iso(doc.get("resolve_due")),
            "history": [
                {"status": h["status"], "at": _iso(h["at"])} for h in doc.get("history", [])
            ],
        }


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value
