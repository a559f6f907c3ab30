"""Consultations as a use case: the office opens one under its node, eligible households
comment, the office hides a comment with a reason (never deletes it)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from services.consult.domain.consultations import (
    Comment,
    Consultation,
    check_window,
    hide,
    may_comment,
    public_view,
)
from services.consult.domain.polls import Refused
from services.consult.store import ConsultStore
from shared.reference.tree import Tree


def _consultation(doc: dict[str, Any]) -> Consultation:
    fields = {k: v for k, v in doc.items() if k in Consultation.__dataclass_fields__}
    return Consultation(id=doc["_id"], **{**fields, "attachments": tuple(doc["attachments"])})


def _comment(doc: dict[str, Any]) -> Comment:
    fields = {k: v for k, v in doc.items() if k in Comment.__dataclass_fields__}
    return Comment(id=doc["_id"], **fields)


def _doc(value: Any) -> dict[str, Any]:
    doc = asdict(value)
    doc["_id"] = doc.pop("id")
    return doc


class Consultations:
    def __init__(self, store: ConsultStore, tree: Tree, clock: Callable[[], datetime]):
        self._store, self._tree, self._clock = store, tree, clock

    async def open(self, consultation: Consultation) -> dict[str, Any]:
        check_window(consultation.opens_at, consultation.closes_at)
        doc = _doc(consultation)
        doc["attachments"] = list(consultation.attachments)
        if not await self._store.insert(self._store.consultations, doc):
            raise Refused("exists", f"consultation {consultation.id} exists", "body.id")
        return doc

    async def get(self, consultation_id: str) -> Consultation:
        doc = await self._store.get(self._store.consultations, consultation_id)
        if doc is None:
            raise Refused("not_found", f"no consultation {consultation_id}", "path.consultation_id")
        return _consultation(doc)

    async def under(self, node_id: str) -> list[dict[str, Any]]:
        """The consultations at or below ``node_id`` (an office's list; a scan)."""
        return [
            doc
            async for doc in self._store.all(self._store.consultations)
            if self._tree.is_within(doc["node_id"], node_id)
        ]

    async def comment(self, consultation_id: str, household: str, text: str) -> dict[str, Any]:
        consultation = await self.get(consultation_id)
        building = household.split("|", 1)[0]
        if not self._tree.is_within(building, consultation.node_id):
            raise Refused("not_eligible", "your household is outside this consultation", "body")
        now = self._clock()
        may_comment(consultation, now)
        comment = Comment("cmt_" + secrets.token_hex(6), consultation_id, household, text, now)
        await self._store.comments.insert_one(_doc(comment))
        return public_view(comment)

    async def hide(
        self, comment_id: str, reason: str, by: str, allowed: Callable[[Consultation], None]
    ) -> dict[str, Any]:
        """Hide with a reason; ``allowed`` raises unless ``by`` moderates its consultation."""
        doc = await self._store.get(self._store.comments, comment_id)
        if doc is None:
            raise Refused("not_found", f"no comment {comment_id}", "path.comment_id")
        comment = _comment(doc)
        allowed(await self.get(comment.consultation_id))
        hidden = hide(comment, reason=reason, by=by, now=self._clock())
        await self._store.comments.replace_one({"_id": comment_id, "hidden": False}, _doc(hidden))
        return public_view(hidden)

    async def comments(self, consultation_id: str) -> list[dict[str, Any]]:
        cursor = self._store.comments.find({"consultation_id": consultation_id})
        rows = [public_view(_comment(doc)) async for doc in cursor]
        return sorted(rows, key=lambda r: r["at"])
