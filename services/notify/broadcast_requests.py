"""Operators' use cases for area broadcasts: start one below a node of their area, read its
progress, cancel it. The fan-out itself is ``broadcasts.Broadcasts``'s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notify.broadcasts import Broadcasts, new_broadcast_id
from services.notify.domain import BroadcastStatus
from services.notify.domain.refusals import AlreadyDone, NotFound, OutsideArea
from services.notify.store import NotifyStore
from shared.reference import Tree


@dataclass(frozen=True)
class NewBroadcast:
    """The command: everyone below ``node_id``; ``texts`` by language ({title, body}), the
    Chinese one always; ``urgent`` overrides quiet hours and opt-outs."""

    node_id: str
    urgent: bool
    texts: dict[str, dict[str, str]]


class BroadcastRequests:
    def __init__(
        self,
        store: NotifyStore,
        fan_out: Broadcasts,
        tree: Tree,
        *,
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._fan_out = fan_out
        self._tree = tree
        self._clock = clock

    async def start(self, operator: dict[str, Any], command: NewBroadcast) -> dict[str, Any]:
        """Store the broadcast queued and wake the fan-out; the stored document."""
        if self._tree.get(command.node_id) is None:
            raise NotFound("unknown_node", "no such node", "node_id")
        if not self._tree.is_within(command.node_id, operator["node_id"]):
            raise OutsideArea("outside_area", "the node is outside your area", "node_id")
        doc = {
            "_id": new_broadcast_id(),
            "node_id": command.node_id,
            "urgent": command.urgent,
            "messages": command.texts,
            "operator": operator["_id"],
            "status": BroadcastStatus.QUEUED.value,
            "walked": 0,
            "lease_owner": None,
            "lease_until": None,
            "progress": {"recipients": 0, "skipped": 0, "queued": {}, "sent": {}, "failed": {}},
            "created_at": self._clock(),
        }
        await self._store.create_broadcast(doc)
        self._fan_out.wake()
        return doc

    async def get(self, operator: dict[str, Any], broadcast_id: str) -> dict[str, Any]:
        """One of the broadcasts in the operator's area (``NotFound`` for any other)."""
        doc = await self._store.broadcast(broadcast_id)
        if doc is None or not self._tree.is_within(doc["node_id"], operator["node_id"]):
            raise NotFound("not_found", "no such broadcast", "broadcast_id")
        return doc

    async def cancel(self, operator: dict[str, Any], broadcast_id: str) -> dict[str, Any]:
        """Stop the fan-out after the batch in flight; a finished one: ``AlreadyDone``."""
        doc = await self.get(operator, broadcast_id)
        cancelled = await self._store.cancel_broadcast(broadcast_id)
        if cancelled is None:
            raise AlreadyDone("finished", f"the broadcast is {doc['status']}")
        return cancelled
