"""Intake's use cases: submit a report (publish, then answer), offer possible duplicates,
follow an existing report, and show residents their own reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from services.intake.domain import Contact, ReportDraft, ReportRejected, accept_report
from services.intake.domain.duplicates import pick_duplicates
from services.intake.domain.open311 import iso, open311_status
from services.intake.domain.places import Places
from services.intake.store import IssueStore
from shared.events import ResidentContactV1, derived_event_id, utcnow
from shared.events.follow import IssueFollowedV1
from shared.http.errors import ApiError
from shared.ids import new_id
from shared.kafka.publisher import EventPublisher, Outgoing
from shared.logging import get_logger
from shared.masking import mask_contacts
from shared.residents import normalise_contact, resident_ref, resident_token, token_matches
from shared.topics import ISSUES_REPORTED, RESIDENTS_CONTACTS

if TYPE_CHECKING:
    from services.intake.consumers import ReadModelUpdater

log = get_logger("linli.intake")


@dataclass(frozen=True)
class Submitted:
    issue_id: str
    resident_ref: str
    resident_token: str


class ReportService:
    def __init__(
        self,
        *,
        publisher: EventPublisher,
        store: IssueStore,
        categories: dict,
        places: Places,
        secret: str,
        read_model: ReadModelUpdater | None = None,
        duplicate_radius_km: float = 0.15,
        duplicate_days: int = 30,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._publisher = publisher
        self.store = store
        self.categories = categories
        self.places = places
        self._secret = secret
        self._read_model = read_model
        self._radius_km = duplicate_radius_km
        self._days = duplicate_days
        self.clock = clock

    async def submit(
        self, draft: ReportDraft, issue_id: str | None = None, *, readable: bool = False
    ) -> Submitted:
        """Publish the report (and the contact, first) and return id, reference and token
        only once Kafka has acknowledged; otherwise ``PublishFailed``. ``readable``: also
        record it in the read model before answering, so that it can be read at once by id
        (Open311 clients expect that of a 201)."""
        accepted = accept_report(
            draft,
            categories=self.categories,
            node_exists=lambda node_id: self.places.tree.get(node_id) is not None,
            issue_id=issue_id or new_id("iss"),
            now=self.clock(),
            secret=self._secret,
        )
        issue = accepted.issue
        events = [Outgoing(ISSUES_REPORTED, issue, issue.issue_id, issue.issue_id)]
        if accepted.contact is not None:
            contact = accepted.contact
            events.insert(0, Outgoing(RESIDENTS_CONTACTS, contact, contact.resident_ref))
        # all in flight at once (one round trip); the answer waits for every ack (else
        # PublishFailed: 503), and a retry after a failure republishes both (the contact topic
        # is compacted, and an issue id from an Idempotency-Key makes the report's duplicate
        # droppable)
        await self._publisher.publish_many(events)
        if readable and self._read_model is not None:
            try:
                await self._read_model.record(issue)
            except Exception as exc:  # it is in Kafka: the consumer records it
                log.warning("read_model_write_failed", issue=issue.issue_id, error=repr(exc))
        ref = issue.resident_ref or ""
        return Submitted(issue.issue_id, ref, resident_token(self._secret, ref))

    async def possible_duplicates(
        self, category: str, node_id: str, lat: float | None = None, lon: float | None = None
    ) -> list[dict[str, Any]]:
        """Open reports of the category at the same compound or within the radius."""
        if category not in self.categories:
            raise ReportRejected("category", "unknown", f"no category {category!r}")
        place = self.places.resolve(
            node_id=node_id, lat=lat, lon=lon, fields=("node_id", "address", "lat", "lon")
        )
        compound = self.places.tree.ancestor_at(place.node.id, "compound")
        point = (lat, lon) if lat is not None and lon is not None else None
        if point is None and compound is not None and compound.location is not None:
            point = (compound.location.lat, compound.location.lon)
        since = self.clock() - timedelta(days=self._days)
        candidates = await self.store.open_of_category(category, since)
        found = pick_duplicates(
            candidates,
            compound_id=compound.id if compound else None,
            point=point,
            radius_km=self._radius_km,
            tree=self.places.tree,
        )
        return [
            {
                "issue_id": doc["_id"],
                "category": doc.get("category"),
                "node_id": doc.get("node_id"),
                "status": doc.get("status", "reported"),
                "reported_at": iso(doc.get("reported_at")),
                "description": mask_contacts(doc.get("description", "")),  # another's words
            }
            for doc in found
        ]

    async def follow(self, issue_id: str, contact: Contact | None) -> Submitted:
        """Follow an existing report instead of filing a new one."""
        doc = await self.store.get(issue_id)
        if doc is None or open311_status(doc.get("status")) == "closed":
            raise ApiError(404, "not_found", f"no open issue {issue_id}", "path.issue_id")
        identity = normalise_contact(contact.phone, contact.email) if contact else None
        ref = resident_ref(self._secret, identity)
        now = self.clock()
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
            record = ResidentContactV1(
                resident_ref=ref,
                name=contact.name,
                phone=contact.phone,
                email=contact.email,
                language=contact.language,
                updated_at=now,
            )
            events.insert(0, Outgoing(RESIDENTS_CONTACTS, record, ref))
        # the answer waits for both acks; a retry republishes both (a compacted topic,
        # and the follow's derived id makes its duplicate harmless)
        await self._publisher.publish_many(events)
        await self.store.add_follower(issue_id, ref)
        return Submitted(issue_id, ref, resident_token(self._secret, ref))

    def _may_read(self, doc: dict[str, Any], token: str) -> bool:
        refs = [doc.get("resident_ref") or "", *doc.get("followers", [])]
        return any(ref and token_matches(self._secret, ref, token) for ref in refs)

    async def view(self, issue_id: str, token: str) -> dict[str, Any]:
        doc = await self.store.get(issue_id)
        if doc is None or not token or not self._may_read(doc, token):
            # the same answer for "absent" and "not yours": ids are not probed
            raise ApiError(404, "not_found", f"no issue {issue_id} for this token", "path.issue_id")
        return resident_view(doc)

    async def of_resident(self, ref: str, token: str) -> list[dict[str, Any]]:
        if not token or not token_matches(self._secret, ref, token):
            raise ApiError(
                401, "bad_token", "missing or wrong resident token", "header.authorization"
            )
        return [resident_view(doc) for doc in await self.store.of_resident(ref)]


def resident_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What a resident sees of their report: no other resident's reference or contact."""
    history = sorted(doc.get("history", []), key=lambda h: (h.get("sequence", 0), h["at"]))
    return {
        "issue_id": doc["_id"],
        "category": doc.get("category", ""),
        "node_id": doc.get("node_id", ""),
        "description": doc.get("description"),
        "attributes": doc.get("attributes", {}),
        "media_url": doc.get("media_url"),
        "status": doc.get("status", "reported"),
        "open311_status": open311_status(doc.get("status")),
        "status_note": doc.get("status_note"),
        "owner": doc.get("owner"),
        "reported_at": iso(doc.get("reported_at")),
        "updated_at": iso(doc.get("updated_at") or doc.get("reported_at")),
        "ack_due": iso(doc.get("ack_due")),
        "resolve_due": iso(doc.get("resolve_due")),
        "history": [
            {"status": h["status"], "at": iso(h["at"]), "note": h.get("note")} for h in history
        ],
    }
