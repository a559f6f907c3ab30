"""Notify's use cases for incoming events: remember contacts and where residents live, and turn
reports, lifecycle transitions and receipts into notices for the deliverer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.notify.delivery import Deliverer
from services.notify.domain import rating_token
from services.notify.followers import NO_REPORTER, Followers
from services.notify.notices import Notice, recipient_of
from services.notify.rendering import local_time
from services.notify.store import CONTACT_FIELDS, NotifyStore
from services.notify.timing import stage
from shared.events import (
    Envelope,
    IssueAssignedV1,
    IssueReportedV1,
    Owner,
    ResidentContactV1,
    utcnow,
)
from shared.events.lifecycle import IssueTransitionV1, ReceiptIssuedV1
from shared.events.notify import NotificationRetryV1
from shared.reference import Reference


def transition_kind(event_type: str) -> str:
    """``linli.issues.resolved.v1`` -> ``issue.resolved``."""
    return "issue." + event_type.split(".")[2]


class Notifier:
    def __init__(
        self,
        store: NotifyStore,
        deliverer: Deliverer,
        reference: Reference,
        *,
        secret: str,
        public_url: str,
        rating_ttl: timedelta,
        max_retry_wait_s: float,
        followers: Followers,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._store = store
        self._deliverer = deliverer
        self._reference = reference
        self._secret = secret
        self._public_url = public_url.rstrip("/")
        self._rating_ttl = rating_ttl
        self._max_retry_wait_s = max_retry_wait_s
        self._followers = followers
        self._clock = clock

    def _nodes(self, node_id: str | None) -> list[str] | None:
        node = self._reference.tree.get(node_id) if node_id else None
        return [*node.ancestors, node.id] if node else None

    async def on_contact(self, _: Envelope, event: ResidentContactV1) -> str:
        contact = event.model_dump(include={*CONTACT_FIELDS, "language"})
        saved = await self._store.save_contact(
            event.resident_ref, contact, event.updated_at, self._nodes(event.node_id)
        )
        return "ok" if saved else "stale"

    async def on_reported(self, envelope: Envelope, event: IssueReportedV1) -> str:
        if event.resident_ref is None:
            return "skipped"
        with stage("resident"):  # one read serves both placing and delivering
            stored = await self._store.resident(event.resident_ref)
        nodes = self._nodes(event.node_id)
        if nodes:
            await self._store.place_resident(event.resident_ref, nodes, stored)
        notice = Notice(
            envelope.id,
            "issue.received",
            event.resident_ref,
            lambda _lang: {"issue_id": event.issue_id},
            issue_id=event.issue_id,
            language=event.language,
        )
        return await self._deliverer.notify(notice, recipient_of(stored, event.language))

    async def on_assigned(self, envelope: Envelope, event: IssueAssignedV1) -> str:
        notice = Notice(
            envelope.id,
            "issue.assigned",
            event.resident_ref or NO_REPORTER,
            lambda lang: {
                "issue_id": event.issue_id,
                "owner_name": self._owner_name(event.owner, lang),
                "resolve_due": local_time(event.resolve_due),
            },
            issue_id=event.issue_id,
            language=event.language,
        )
        return await self._followers.notify(notice)

    async def on_transition(self, envelope: Envelope, event: IssueTransitionV1) -> str:
        ref = event.resident_ref or NO_REPORTER  # followers hear of anonymous reports too
        kind = transition_kind(envelope.type)
        extra: dict[str, Any] = {}
        if kind == "issue.return-visit" and ref:
            expires = self._clock() + self._rating_ttl
            token = rating_token(
                self._secret,
                issue_id=event.issue_id,
                ref=ref,
                visit=event.sequence,
                expires=expires,
            )
            extra = {
                "rating_url": f"{self._public_url}/rate/{token}",
                "rating_expires": local_time(expires),
            }

        def context(lang: str) -> dict[str, Any]:
            return {
                "issue_id": event.issue_id,
                "owner_name": self._owner_name(event.owner, lang),
                "departments": self._departments(event.departments, lang),
                "actor_name": self._actor_name(event.actor, lang),
                "reason": event.reason,
                "public_note": event.public_note,
                "resolve_due": local_time(event.resolve_due) if event.resolve_due else "",
                **extra,
            }

        notice = Notice(
            envelope.id, kind, ref, context, issue_id=event.issue_id, language=event.language
        )
        return await self._followers.notify(notice)

    async def on_receipt(self, envelope: Envelope, event: ReceiptIssuedV1) -> str:
        if event.donor_ref is None:
            return "skipped"
        notice = Notice(
            envelope.id,
            "receipt.issued",
            event.donor_ref,
            lambda _lang: {
                "receipt_no": event.receipt_no,
                "campaign": event.campaign_name or event.campaign,
                "amount": f"{event.amount_fen / 100:.2f}",
            },
        )
        return await self._deliverer.notify(notice)

    async def on_retry(self, _: Envelope, event: NotificationRetryV1) -> str:
        """Wait for the retry's due time (this topic only: the source partitions go on)."""
        wait = (event.due_at - self._clock()).total_seconds()
        if wait > 0:
            await asyncio.sleep(min(wait, self._max_retry_wait_s))
        return await self._deliverer.on_retry(event)

    # --- names in the resident's language -------------------------------------------------

    def _owner_name(self, owner: Owner | None, lang: str) -> str:
        if owner is None:
            return "承办单位" if lang == "zh-CN" else "the responsible office"
        name = owner.name_en if lang == "en" else owner.name
        return name or self._actor_name(owner.code, lang)

    def _actor_name(self, code: str | None, lang: str) -> str:
        if not code:
            return "承办单位" if lang == "zh-CN" else "the responsible office"
        department = self._reference.departments.get(code)
        if department is not None:
            return department.name.get(lang)
        node = self._reference.tree.get(code)
        return node.name.get(lang) if node is not None else code

    def _departments(self, codes: tuple[str, ...], lang: str) -> str:
        names = [self._actor_name(code, lang) for code in codes]
        if not names:
            return "相关部门" if lang == "zh-CN" else "the departments concerned"
        return ("、" if lang == "zh-CN" else ", ").join(names)
