"""Intake's filing use cases: file a report (idempotently, offering possible duplicates
first when asked), file an Open311 request, follow an open report, store a photo. A report is
accepted only once Kafka has acknowledged it (else ``PublishFailed``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.intake.application.commands import (
    Accepted,
    DuplicatesFound,
    FileReport,
    PlaceAsked,
    Replayed,
    RequestFiled,
)
from services.intake.application.nearby import Nearby
from services.intake.application.read_model import ReadModel
from services.intake.application.refusals import IdempotencyConflict, NotFound
from services.intake.domain import Contact, ReportDraft, accept_report
from services.intake.domain.media import check_photo
from services.intake.domain.places import Places
from services.intake.domain.status import Open311Status, open311_status
from services.intake.idempotency import IdempotencyRecords, issue_id_for_key
from services.intake.media import MediaStore
from services.intake.store import IssueStore
from shared.events import ResidentContactV1, derived_event_id
from shared.events.follow import IssueFollowedV1
from shared.ids import new_id
from shared.kafka.publisher import EventPublisher, Outgoing
from shared.logging import get_logger
from shared.residents import FOLLOW_PURPOSE, normalise_contact, report_token, resident_ref
from shared.topics import ISSUES_REPORTED, RESIDENTS_CONTACTS

log = get_logger("linli.intake")
TOKEN_SCOPE = "open311-token"  # a batch request's id derives from its token


class Filing:
    def __init__(
        self,
        *,
        publisher: EventPublisher,
        store: IssueStore,
        idempotency: IdempotencyRecords,
        media: MediaStore,
        nearby: Nearby,
        read_model: ReadModel | None,
        categories: dict,
        places: Places,
        secret: str,
        clock: Callable[[], datetime],
    ):
        self._publisher = publisher
        self._store = store
        self._idempotency = idempotency
        self._media = media
        self._nearby = nearby
        self._read_model = read_model
        self._categories = categories
        self._places = places
        self._secret = secret
        self._clock = clock

    async def file(self, command: FileReport) -> Accepted | Replayed | DuplicatesFound:
        """A resident's report: a replay of a stored answer, duplicates offered, or filed.
        The same key and body derive the same issue id, so a retried publish is dropped
        downstream; the body is part of it so a reused key never replaces a report."""
        key, fingerprint = command.idempotency_key, command.fingerprint
        if key is not None:
            seen = await self._idempotency.find(key)
            if seen is not None:
                return self._replayed(seen, fingerprint, first=False)
        draft = self._placed(command.draft, command.place)
        if command.offer_duplicates:
            place = command.place
            found = await self._nearby.open_reports(
                draft.category, draft.node_id, place.lat, place.lon
            )
            if found:
                return DuplicatesFound(found)
        issue_id = issue_id_for_key(f"{key}:{fingerprint}") if key is not None else None
        accepted = await self.submit(draft, issue_id)
        if key is None:
            return accepted
        # the issue id alone is kept: the answer (its token) is rebuilt from it on a replay
        answer = {"issue_id": accepted.issue_id}
        stored = await self._idempotency.remember(key, fingerprint, 202, answer)
        return self._replayed(stored, fingerprint, first=True)

    async def file_request(self, command: FileReport, *, batch: bool) -> RequestFiled:
        """An Open311 request, readable by id as soon as it is answered (a 201). A batch
        service answers with a token; the request's id derives from it."""
        draft = self._placed(command.draft, command.place)
        if batch:
            token = "tok_" + secrets.token_hex(16)
            await self.submit(draft, issue_id_for_key(token, TOKEN_SCOPE), readable=True)
            return RequestFiled(token=token)
        accepted = await self.submit(draft, readable=True)
        return RequestFiled(service_request_id=accepted.issue_id)

    def _placed(self, draft: ReportDraft, asked: PlaceAsked) -> ReportDraft:
        place = self._places.resolve(
            node_id=asked.node_id,
            address=asked.address,
            lat=asked.lat,
            lon=asked.lon,
            fields=asked.fields,
        )
        address = draft.address or (place.address if asked.address_from_place else None)
        return replace(draft, node_id=place.node.id, address=address)

    async def submit(
        self, draft: ReportDraft, issue_id: str | None = None, *, readable: bool = False
    ) -> Accepted:
        """Publish the report (and the contact, first) and answer only once Kafka has
        acknowledged both. ``readable``: also record it in the read model before answering,
        so that it can be read at once by id."""
        accepted = accept_report(
            draft,
            categories=self._categories,
            node_exists=lambda node_id: self._places.tree.get(node_id) is not None,
            issue_id=issue_id or new_id("iss"),
            now=self._clock(),
            secret=self._secret,
        )
        issue = accepted.issue
        events = [Outgoing(ISSUES_REPORTED, issue, issue.issue_id, issue.issue_id)]
        if accepted.contact is not None:
            contact = accepted.contact
            events.insert(0, Outgoing(RESIDENTS_CONTACTS, contact, contact.resident_ref))
        # all in flight at once; a retry after a failure republishes both (the contact topic
        # is compacted, and an issue id from an Idempotency-Key makes the duplicate droppable)
        await self._publisher.publish_many(events)
        if readable and self._read_model is not None:
            try:
                await self._read_model.record(issue)
            except Exception as exc:  # it is in Kafka: the consumer records it
                log.warning("read_model_write_failed", issue=issue.issue_id, error=repr(exc))
        return self._accepted(issue.issue_id)

    def _accepted(self, issue_id: str) -> Accepted:
        return Accepted(issue_id, report_token(self._secret, issue_id))

    async def follow(self, issue_id: str, contact: Contact | None) -> Accepted:
        """Follow an open report instead of filing a new one; the answer's token opens it as
        a follower sees it (another resident's words, contact details masked)."""
        doc = await self._store.get(issue_id)
        if doc is None or open311_status(doc.get("status")) == Open311Status.CLOSED:
            raise NotFound(f"no open issue {issue_id}", "path.issue_id")
        identity = normalise_contact(contact.phone, contact.email) if contact else None
        ref = resident_ref(self._secret, identity)
        now = self._clock()
        followed = IssueFollowedV1(
            issue_id=issue_id,
            resident_ref=ref,
            language=contact.language if contact else None,
            reporter_ref=doc.get("resident_ref"),
            followed_at=now,
        )
        event_id = derived_event_id("followed", issue_id, ref)
        events = [Outgoing(ISSUES_REPORTED, followed, issue_id, event_id)]
        if identity is not None and contact is not None:
            record = ResidentContactV1.of(ref, contact, now)
            events.insert(0, Outgoing(RESIDENTS_CONTACTS, record, ref))
        # the answer waits for both acks; a retry republishes both (a compacted topic,
        # and the follow's derived id makes its duplicate harmless)
        await self._publisher.publish_many(events)
        await self._store.add_follower(issue_id, ref)
        return Accepted(issue_id, report_token(self._secret, issue_id, FOLLOW_PURPOSE))

    def _replayed(self, record: dict[str, Any], fingerprint: str, first: bool) -> Replayed:
        """The stored answer, rebuilt from its issue id: an answer stored before report
        tokens (it carried the resident's own token) is never handed out again."""
        if record["fingerprint"] != fingerprint:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different body",
                "header.idempotency-key",
            )
        answer = self._accepted(record["response"]["issue_id"]).answer()
        return Replayed(record["status"], answer, first)

    async def save_photo(self, data: bytes, max_bytes: int) -> tuple[str, str]:
        """Store a photo judged by its bytes: its id and content type."""
        kind = check_photo(data, max_bytes, "body.file")
        return await self._media.save(data, kind), kind
