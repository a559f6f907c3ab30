"""Notify's MongoDB adapter (``<prefix>notify``): residents (contacts, node, preferences),
inboxes, the delivery records (idempotency keys and outcomes), ratings, broadcasts, operators.
Contact details live here and nowhere else."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.notify.domain import BroadcastStatus, DeliveryStatus
from services.notify.domain.names import RETRYABLE, UNFINISHED
from shared.events import utcnow
from shared.mongo import upsert

CONTACT_FIELDS = ("name", "phone", "email")


class NotifyStore:
    def __init__(self, db: AsyncDatabase):
        self.db = db
        self.residents = db["residents"]
        self.inbox_messages = db["inbox"]
        self.deliveries = db["deliveries"]
        self.deferred = db["deferred"]  # pointers to deferred sends: small, so scans are cheap
        self.ratings = db["ratings"]
        self.broadcasts = db["broadcasts"]
        self.unfinished = db["broadcasts_unfinished"]  # pointers: the lease reads only these
        self.operators = db["operators"]
        self.reach_counts = db["reach"]  # residents per node, by ``_id`` (reach.py)
        self.reach_rounds = db["reach_rounds"]  # which replica counts in which period

    async def prepare(self) -> None:
        await self.inbox_messages.create_index([("resident_ref", 1), ("created_at", DESCENDING)])
        await self.residents.create_index([("nodes", ASCENDING)])
        await self.deliveries.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
        await self.broadcasts.create_index([("status", ASCENDING)])
        await self._point_at_unfinished()

    async def _point_at_unfinished(self) -> None:
        """Pointers for unfinished broadcasts begun before pointers were kept (one scan of
        the broadcasts at start-up; a pointer already there is left as it is)."""
        active = {"status": {"$in": list(UNFINISHED)}}
        async for doc in self.broadcasts.find(active, {"created_at": 1}):
            await self._point(doc["_id"], doc.get("created_at") or utcnow())

    async def _point(self, broadcast_id: str, at: datetime) -> None:
        with suppress(DuplicateKeyError):
            await self.unfinished.insert_one({"_id": broadcast_id, "at": at})

    # --- residents ------------------------------------------------------------------------

    async def save_contact(
        self, ref: str, contact: dict[str, Any], updated_at: datetime, nodes: list[str] | None
    ) -> bool:
        """Keep the newest contact per resident; an older record changes nothing.

        A resident's records come in order from one partition (the topic is keyed by the
        reference), so the stored time is read and the write goes by id alone: any condition
        beside the id would make FerretDB scan every resident."""
        stored = await self.residents.find_one({"_id": ref}, {"updated_at": 1})
        known = (stored or {}).get("updated_at")
        if known is not None and known >= updated_at:
            return False
        changes: dict[str, Any] = {**contact, "updated_at": updated_at}
        if nodes:
            changes |= {"node_id": nodes[-1], "nodes": nodes}
        return await self._upsert({"_id": ref}, {"$set": changes})

    async def place_resident(
        self, ref: str, nodes: list[str], stored: dict[str, Any] | None
    ) -> None:
        """Remember where a resident lives (from their reports) when no contact said so;
        ``stored`` is the resident as just read, so the write goes by id alone (no scan)."""
        if stored is not None and stored.get("node_id") is not None:
            return
        await self._upsert({"_id": ref}, {"$set": {"node_id": nodes[-1], "nodes": nodes}})

    async def save_preferences(self, ref: str, prefs: dict[str, Any]) -> None:
        await self._upsert({"_id": ref}, {"$set": {"prefs": prefs, "prefs_at": utcnow()}})

    async def _upsert(self, query: dict[str, Any], update: dict[str, Any]) -> bool:
        """Update the resident, creating it if missing. Two writers creating the same resident
        at once collide on the id (no upsert retry here): the loser updates the one that won.
        False when the document exists but the filter does not match (e.g. a newer contact)."""
        return await upsert(self.residents, query, update)

    async def resident(self, ref: str) -> dict[str, Any] | None:
        return await self.residents.find_one({"_id": ref})

    def residents_below(self, node_id: str, batch: int):
        """Every resident below the node, streamed in the collection's natural order: a sort
        would make FerretDB scan and sort the whole collection before the first batch.
        ``$eq`` keeps our FerretDB build from reading through the ``nodes`` index (every
        resident has an array there, so it would narrow nothing), whose order changes as
        residents are added: a resumed walk counts on the natural order (broadcasts.py)."""
        fields = {"language": 1, "prefs": 1, "phone": 1, "email": 1}
        return self.residents.find({"nodes": {"$eq": node_id}}, fields).batch_size(batch)

    def residents_placed(self, batch: int):
        """Every resident with what the reach tally needs, in the natural order."""
        fields = {"nodes": 1, "language": 1, "prefs": 1, "phone": 1, "email": 1}
        return self.residents.find({}, fields).batch_size(batch)

    async def reach(self, node_id: str) -> dict[str, Any] | None:
        return await self.reach_counts.find_one({"_id": node_id})

    async def claim_reach_round(self, period: int, at: datetime) -> bool:
        """The first replica to insert the period's round counts in it (the unique ``_id``
        decides, on FerretDB too); the round two periods back is dropped by ``_id``."""
        try:
            await self.reach_rounds.insert_one({"_id": f"round:{period}", "at": at})
        except DuplicateKeyError:
            return False
        await self.reach_rounds.delete_one({"_id": f"round:{period - 2}"})
        return True

    async def replace_reach(self, docs: dict[str, dict[str, Any]]) -> None:
        """Each node's counts replaced by ``_id``; nodes nobody lives below any more, dropped."""
        gone = [d["_id"] async for d in self.reach_counts.find({}, {"_id": 1})
                if d["_id"] not in docs]  # fmt: skip
        for node, doc in docs.items():
            await upsert(self.reach_counts, {"_id": node}, {"$set": doc})
        if gone:
            await self.reach_counts.delete_many({"_id": {"$in": gone}})

    # --- inbox ----------------------------------------------------------------------------

    async def deliver_to_inbox(self, message_id: str, message: dict[str, Any]) -> bool:
        """Insert once: the id is (source event, recipient, channel), so a redelivery adds
        nothing."""
        try:
            await self.inbox_messages.insert_one({"_id": message_id, **message})
            return True
        except DuplicateKeyError:
            return False

    async def deliver_many_to_inbox(self, documents: list[dict[str, Any]]) -> int:
        """Bulk insert with ids as idempotency keys; those already there are skipped."""
        if not documents:
            return 0
        try:
            result = await self.inbox_messages.insert_many(documents, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            return int(exc.details.get("nInserted", 0))

    async def inbox(self, ref: str, limit: int, after: datetime | None = None):
        query: dict[str, Any] = {"resident_ref": ref}
        if after is not None:
            query["created_at"] = {"$gt": after}
        # ties broken by id, the reverse of ``inbox_after``'s order: a stream's replay after a
        # message is then exactly the messages listed before it here
        newest_first = [("created_at", DESCENDING), ("_id", DESCENDING)]
        cursor = self.inbox_messages.find(query).sort(newest_first)
        return await cursor.limit(limit).to_list()

    async def inbox_after(self, ref: str, message_id: str, limit: int) -> list[dict[str, Any]]:
        """The resident's messages stored after the one with ``message_id``, oldest first
        (those stored at the same moment too, the message itself excepted); none when that
        message is not the resident's."""
        anchor = await self.inbox_messages.find_one(
            {"_id": message_id}, {"resident_ref": 1, "created_at": 1}
        )
        if anchor is None or anchor.get("resident_ref") != ref:
            return []
        query = {
            "resident_ref": ref,
            "created_at": {"$gte": anchor["created_at"]},
            "_id": {"$ne": message_id},
        }
        cursor = self.inbox_messages.find(query).sort([("created_at", ASCENDING), ("_id", 1)])
        return await cursor.limit(limit).to_list()

    # --- delivery records (one per source event, resident and external channel) ---------

    async def claim(self, delivery_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Insert the idempotency key before sending: None when it is new (send), else the
        existing record (someone already sent, is sending, or scheduled a retry)."""
        try:
            await self.deliveries.insert_one(
                {
                    "_id": delivery_id,
                    "status": DeliveryStatus.SENDING,
                    "attempt": 1,
                    "at": utcnow(),
                    **fields,
                }
            )
            return None
        except DuplicateKeyError:
            return await self.deliveries.find_one({"_id": delivery_id}) or {}

    async def delivery(self, delivery_id: str) -> dict[str, Any] | None:
        return await self.deliveries.find_one({"_id": delivery_id})

    async def claim_retry(self, delivery_id: str, attempt: int) -> bool:
        """Take a scheduled retry (or deferred send) once, whoever consumes its record."""
        taken = await self.deliveries.find_one_and_update(
            {
                "_id": delivery_id,
                "status": {"$in": list(RETRYABLE)},
                "attempt": attempt - 1,
            },
            {"$set": {"status": DeliveryStatus.SENDING, "attempt": attempt, "at": utcnow()}},
        )
        return taken is not None

    async def settle(self, delivery_id: str, status: DeliveryStatus, **fields: Any) -> None:
        await self.deliveries.update_one(
            {"_id": delivery_id}, {"$set": {"status": status, "at": utcnow(), **fields}}
        )

    async def defer(self, delivery_id: str, due: datetime, **fields: Any) -> None:
        """Park a send until ``due``: a pointer in the small ``deferred`` collection (first,
        so a crash leaves nothing unwoken), then the delivery's record."""
        await self.deferred.update_one({"_id": delivery_id}, {"$set": {"due_at": due}}, upsert=True)
        await self.settle(delivery_id, DeliveryStatus.DEFERRED, due_at=due, **fields)

    async def due_deferred(self, now: datetime, limit: int = 200) -> list[dict[str, Any]]:
        """Deferred sends now due (the scan is of the pointers, never of all deliveries)."""
        due = await self.deferred.find({"due_at": {"$lte": now}}).limit(limit).to_list()
        found = []
        for pointer in due:
            doc = await self.deliveries.find_one({"_id": pointer["_id"]})
            if doc is not None and doc.get("status") == DeliveryStatus.DEFERRED:
                found.append(doc)
            else:  # woken already (another replica), or never recorded
                await self.deferred.delete_one({"_id": pointer["_id"]})
        return found

    async def woken(self, delivery_id: str) -> None:
        """A deferred send was handed to the retry topic."""
        await self.deliveries.update_one(
            {"_id": delivery_id}, {"$set": {"status": DeliveryStatus.RETRYING}}
        )
        await self.deferred.delete_one({"_id": delivery_id})

    # --- ratings --------------------------------------------------------------------------

    async def record_rating(self, key: str, doc: dict[str, Any]) -> dict[str, Any] | None:
        """None when this is the first answer to the link, else the stored one."""
        try:
            await self.ratings.insert_one({"_id": key, **doc})
            return None
        except DuplicateKeyError:
            return await self.ratings.find_one({"_id": key})

    async def rating(self, key: str) -> dict[str, Any] | None:
        return await self.ratings.find_one({"_id": key})

    async def rating_published(self, key: str) -> None:
        await self.ratings.update_one({"_id": key}, {"$set": {"published": True}})

    # --- broadcasts -----------------------------------------------------------------------

    async def create_broadcast(self, doc: dict[str, Any]) -> None:
        """The pointer first, so a crash between leaves nothing that no lease would find."""
        await self._point(doc["_id"], doc["created_at"])
        await self.broadcasts.insert_one(doc)

    async def broadcast(self, broadcast_id: str) -> dict[str, Any] | None:
        return await self.broadcasts.find_one({"_id": broadcast_id})

    async def lease_broadcast(self, owner: str, now: datetime, until: datetime):
        """Take one unfinished broadcast whose lease is free or lapsed (one replica at a time).
        Only the pointers of unfinished broadcasts are read, then each by ``_id``: the lease
        is tried every second, and the broadcasts themselves are kept for ever."""
        for pointer in await self.unfinished.find({}).sort("at", ASCENDING).limit(50).to_list():
            taken = await self.broadcasts.find_one_and_update(
                {
                    "_id": pointer["_id"],
                    "status": {"$in": list(UNFINISHED)},
                    "$or": [
                        {"lease_until": None},
                        {"lease_until": {"$lt": now}},
                        {"lease_owner": owner},
                    ],
                },
                {
                    "$set": {
                        "status": BroadcastStatus.SENDING,
                        "lease_owner": owner,
                        "lease_until": until,
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
            if taken is not None:
                return taken
            await self._unpoint_if_finished(pointer, now)
        return None

    async def _unpoint_if_finished(self, pointer: dict[str, Any], now: datetime) -> None:
        """Drop a pointer whose broadcast ended (its finisher died before dropping it), or
        never came (its creator died before storing it; a minute is time enough)."""
        doc = await self.broadcasts.find_one({"_id": pointer["_id"]}, {"status": 1})
        if doc is None:
            if pointer["at"] + timedelta(minutes=1) > now:
                return
        elif doc["status"] in UNFINISHED:
            return  # leased by another replica
        await self.unfinished.delete_one({"_id": pointer["_id"]})

    async def advance_broadcast(
        self, broadcast_id: str, owner: str, walked: int, counts: dict[str, int], until: datetime
    ) -> bool:
        """Record how many residents the fan-out walked and add the batch's counts in one
        atomic write, only while this replica holds the lease and nobody cancelled."""
        result = await self.broadcasts.update_one(
            {"_id": broadcast_id, "lease_owner": owner, "status": BroadcastStatus.SENDING},
            {
                "$set": {"walked": walked, "lease_until": until, "updated_at": utcnow()},
                "$inc": {f"progress.{k}": v for k, v in counts.items()},
            },
        )
        return result.modified_count == 1

    async def count_broadcast(self, broadcast_id: str, counts: dict[str, int]) -> None:
        """Add to a broadcast's progress counts (a retried send's outcome, after the walk)."""
        changes = {f"progress.{k}": v for k, v in counts.items() if v}
        if changes:
            await self.broadcasts.update_one({"_id": broadcast_id}, {"$inc": changes})

    async def finish_broadcast(self, broadcast_id: str, owner: str) -> None:
        result = await self.broadcasts.update_one(
            {"_id": broadcast_id, "lease_owner": owner, "status": BroadcastStatus.SENDING},
            {
                "$set": {
                    "status": BroadcastStatus.DONE,
                    "lease_until": None,
                    "finished_at": utcnow(),
                }
            },
        )
        if result.matched_count:  # else it is someone else's now, pointer and all
            await self.unfinished.delete_one({"_id": broadcast_id})

    async def cancel_broadcast(self, broadcast_id: str) -> dict[str, Any] | None:
        cancelled = await self.broadcasts.find_one_and_update(
            {"_id": broadcast_id, "status": {"$in": list(UNFINISHED)}},
            {"$set": {"status": BroadcastStatus.CANCELLED, "cancelled_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        await self.unfinished.delete_one({"_id": broadcast_id})
        return cancelled

    # --- operators ------------------------------------------------------------------------

    async def add_operator(self, doc: dict[str, Any]) -> None:
        await self.operators.insert_one(doc)

    async def operator(self, key_id: str) -> dict[str, Any] | None:
        return await self.operators.find_one({"_id": key_id})
