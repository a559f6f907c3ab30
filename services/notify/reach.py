"""How many residents a broadcast below a node would reach, answered from one document per
node read by ``_id`` (FerretDB v1 indexes nothing else; counting ``nodes`` on each preview
would scan every resident).

A background tally walks the residents in the collection's natural order every
``LINLI_NOTIFY_REACH_EVERY_S`` and replaces each node's counts: residents below it, those
who did not opt out of broadcasts (an urgent one reaches everyone), and the first channel
each would be tried on; one replica a period does it (an inserted round, ``_id``-unique).
The counts are a whole walk's, so a retried or repeated tally never counts anyone twice; a
preview is one or two periods old at most and says when it was counted."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.notify.delivery import Deliverer
from services.notify.domain import wanted
from services.notify.domain.refusals import NotFound, OutsideArea
from services.notify.notices import recipient_of
from services.notify.store import NotifyStore
from shared.logging import get_logger
from shared.reference import Tree

log = get_logger("linli.notify.reach")


def reach_view(node_id: str, doc: dict[str, Any] | None) -> dict[str, Any]:
    doc = doc or {}
    return {
        "node_id": node_id,
        "residents": int(doc.get("residents", 0)),
        "not_opted_out": int(doc.get("not_opted_out", 0)),
        "first_channel": dict(doc.get("first_channel") or {}),
        "counted_at": doc["counted_at"].isoformat() if doc.get("counted_at") else None,
    }


class Reach:
    def __init__(
        self,
        store: NotifyStore,
        deliverer: Deliverer,
        tree: Tree,
        *,
        clock: Callable[[], datetime],
        batch: int = 1000,
    ):
        self._store, self._deliverer, self._tree = store, deliverer, tree
        self._clock, self._batch = clock, batch

    async def of(self, operator: dict[str, Any], node_id: str) -> dict[str, Any]:
        """The reach below a node of the operator's area (the same rule as sending there)."""
        if self._tree.get(node_id) is None:
            raise NotFound("unknown_node", "no such node", "node_id")
        if not self._tree.is_within(node_id, operator["node_id"]):
            raise OutsideArea("outside_area", "the node is outside your area", "node_id")
        return reach_view(node_id, await self._store.reach(node_id))

    async def tally(self) -> int:
        """Count every resident once per node on their path; the nodes counted."""
        residents: Counter[str] = Counter()
        opted_in: Counter[str] = Counter()
        first: defaultdict[str, Counter[str]] = defaultdict(Counter)
        plain: dict[str, tuple[str, bool]] = {}  # residents with defaults only, by language
        async for resident in self._store.residents_placed(self._batch):
            channel, keeps = self._sorted(resident, plain)
            for node in resident.get("nodes") or ():
                residents[node] += 1
                opted_in[node] += keeps
                first[node][channel] += 1
        now = self._clock()
        docs = {
            node: {"residents": n, "not_opted_out": opted_in[node],
                   "first_channel": dict(first[node]), "counted_at": now}
            for node, n in residents.items()
        }  # fmt: skip
        await self._store.replace_reach(docs)
        return len(docs)

    def _sorted(self, resident: dict[str, Any], plain: dict[str, tuple[str, bool]]):
        """The resident's first channel and whether a non-urgent broadcast reaches them;
        residents with neither preferences nor contact details (most) share one answer per
        language (reading their defaults again for each was most of the tally's time)."""
        alike = not (resident.get("prefs") or resident.get("phone") or resident.get("email"))
        language = resident.get("language") or ""
        if alike and language in plain:
            return plain[language]
        recipient = recipient_of(resident)
        found = (self._deliverer.plan(recipient)[0],
                 wanted(recipient.prefs, "broadcast", urgent=False))  # fmt: skip
        if alike:
            plain[language] = found
        return found

    async def tally_if_first(self, every_s: float) -> int | None:
        """Tally unless another replica already counts in this period of ``every_s``
        (one walk of every resident per period, however many replicas run); the nodes
        counted, or None when another replica has the period."""
        now = self._clock()
        if not await self._store.claim_reach_round(int(now.timestamp() // every_s), now):
            return None
        return await self.tally()

    async def run_forever(self, every_s: float) -> None:
        while True:
            try:
                counted = await self.tally_if_first(every_s)
                if counted is not None:
                    log.info("reach_counted", nodes=counted)
            except Exception as exc:  # the database is away: count again next time
                log.warning("reach_count_failed", error=repr(exc))
            await asyncio.sleep(every_s)
