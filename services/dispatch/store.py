"""Dispatch's MongoDB adapter for cases (database ``<prefix>dispatch``).

FerretDB v1 answers a filter without scanning its collection only when the filter is exactly
``{_id: <value>}``, and rewrites the whole document on every update. So every hot access is
an insert or an exact-``_id`` read, replace or delete:

- ``cases``: the head document of each case (``_id`` = issue id): the fields the HTTP API
  and the rates query by (status, places, holders, reported month) and the whole case packed
  as one BSON value (FerretDB's cost grows with the number of fields it converts: packing
  makes the insert of a routed case about a third cheaper). Version 1 is the insert of the
  routed case (a redelivered report hits the unique ``_id``: the stored case wins).
- ``changes``: one immutable document per later version (``_id`` = ``<issue>:<version>``)
  holding the new state and the events it publishes. Inserting it is the compare-and-set:
  two writers that read version v both try ``<issue>:<v+1>`` and only one insert succeeds.
  The head is then replaced by bare ``_id``; a reader that finds a change newer than the head
  rolls forward to it (and repairs the head), so a writer that dies after its insert, or a
  late head write, loses nothing. The documents stay (an audit trail read only by ``_id``).
- ``outbox``: a pointer per change (a routed case is version 1) whose side effects (events,
  timers) are not confirmed yet, written before the change and deleted after. It stays
  small, so the sweeper's scan for pointers left behind by a dead writer is cheap.
- ``keys``: hashed API keys scoped to a department or an office node.
- ``queue`` and ``queue_stamps``: the staff's case queues by scope, read by ``_id``
  (``queue_store.py``), written here after each case write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import Any

import bson
from bson.codec_options import CodecOptions
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.dispatch.domain.machine import FINAL, Case, Duty, Holder
from services.dispatch.domain.queue import listed
from services.dispatch.queue_store import QueueStore
from shared.events.dispatch import key_id, signing_secret
from shared.kafka.failures import TransientError

DUPLICATE_KEY = 11000
DUTY_FIELDS = fields(Duty)
CASE_FIELDS = tuple(f for f in fields(Case) if f.name != "issue_id")


def _holder(holder: Holder) -> dict[str, str]:
    return {"kind": holder.kind, "code": holder.code}


def duty_to_doc(duty: Duty) -> dict[str, Any]:
    doc = {f.name: getattr(duty, f.name) for f in DUTY_FIELDS}
    doc["holder"] = _holder(duty.holder)
    return doc


def case_to_doc(case: Case) -> dict[str, Any]:
    """The case as a document (field by field: ``dataclasses.asdict`` deep-copies, which
    costs as much as the rest of routing)."""
    doc: dict[str, Any] = {"_id": case.issue_id}
    for f in CASE_FIELDS:
        doc[f.name] = getattr(case, f.name)
    doc["owner"] = _holder(case.owner)
    doc["duties"] = [duty_to_doc(d) for d in case.duties]
    return doc


def case_from_doc(doc: dict[str, Any]) -> Case:
    duties = tuple(Duty(**{**d, "holder": Holder(**d["holder"])}) for d in doc.get("duties") or ())
    return Case(
        issue_id=doc["_id"],
        category=doc["category"],
        priority=doc["priority"],
        node_id=doc["node_id"],
        status=doc["status"],
        owner=Holder(**doc["owner"]),
        duties=duties,
        supervisor=doc["supervisor"],
        version=doc["version"],
        resolved_at=doc.get("resolved_at"),
        visit_at=doc.get("visit_at"),
        rating=doc.get("rating"),
        merged_into=doc.get("merged_into"),
        closed_reason=doc.get("closed_reason"),
        ratings=tuple(doc.get("ratings") or ()),
    )


def hash_key(key: str) -> str:
    """The stored id of an API key (the ``key_id`` a signed Kafka action names)."""
    return key_id(key)


def change_id(issue_id: str, version: int) -> str:
    return f"{issue_id}:{version}"


UNPACK = CodecOptions(tz_aware=True)
QUERIED = ("status", "places", "reported_month", "assigned_by", "version")


def pack(doc: dict[str, Any]) -> dict[str, Any]:
    """The head document stored for case ``doc``: what queries need, and the case packed."""
    head = {"_id": doc["_id"], **{k: doc[k] for k in QUERIED if k in doc}}
    head["holders"] = sorted(
        {d["holder"]["code"] for d in (*doc.get("duties", ()), *doc.get("history", ()))}
    )
    head["case"] = bson.encode(doc)
    return head


def unpack(head: dict[str, Any]) -> dict[str, Any]:
    """The case in a head document (one stored before packing is the case itself)."""
    if "case" not in head:
        return head
    return bson.decode(head["case"], codec_options=UNPACK)


class Conflict(TransientError):
    """Someone else changed the case first (its version moved): reload and decide again (a
    consumer that meets it too often tries the record again later)."""


async def insert_new(collection: Any, docs: list[dict[str, Any]]) -> set[Any]:
    """Insert ``docs`` (unordered, one round trip); the ``_id`` of those already stored."""
    if not docs:
        return set()
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return {docs[e["index"]]["_id"] for e in errors}
    return set()


class CaseStore:
    def __init__(self, db: AsyncDatabase):
        self.db = db
        self.cases = db["cases"]
        self.changes = db["changes"]
        self.outbox = db["outbox"]
        self.keys = db["keys"]
        self.queue = QueueStore(db)

    async def prepare(self) -> None:
        await self.cases.create_index([("reported_month", ASCENDING)])

    # -- cases ------------------------------------------------------------------------------
    async def insert_cases(self, docs: list[dict[str, Any]]) -> set[str]:
        """Insert new cases (version 1) and list them in the staff's queues; the ids that were
        stored already (redeliveries: a stored newer version keeps its queue rows)."""
        existing = await insert_new(self.cases, [pack(doc) for doc in docs])
        await self.queue.put(docs)
        return existing

    async def get(self, issue_id: str) -> dict[str, Any] | None:
        """The case as of its latest version (rolling the head forward if a writer has not
        replaced it yet)."""
        found = await self.cases.find_one({"_id": issue_id})
        if found is None:
            return None
        head = unpack(found)
        latest = await self._newer(head)
        if latest is not head:
            await self.put_head(latest)
        return latest

    async def _newer(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` or the newest state stored in the changes after it."""
        while True:
            change = await self.changes.find_one({"_id": change_id(doc["_id"], doc["version"] + 1)})
            if change is None:
                return doc
            doc = change["state"]

    async def commit(self, doc: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """Store version ``doc["version"]`` with its events; ``Conflict`` if a concurrent
        writer stored that version first."""
        try:
            await self.changes.insert_one(
                {"_id": change_id(doc["_id"], doc["version"]), "state": doc, "events": events}
            )
        except DuplicateKeyError as exc:
            raise Conflict(doc["_id"]) from exc

    async def change(self, issue_id: str, version: int) -> dict[str, Any] | None:
        return await self.changes.find_one({"_id": change_id(issue_id, version)})

    async def put_head(self, doc: dict[str, Any]) -> None:
        """Replace the head by bare ``_id``, then roll it forward while newer changes exist:
        whichever write lands last, its writer's check afterwards sees the newest change.
        Then the case's queue rows follow (they keep the highest version written)."""
        while True:
            await self.cases.replace_one({"_id": doc["_id"]}, pack(doc))
            newer = await self._newer(doc)
            if newer is doc:
                break
            doc = newer
        await self.queue.put([doc])

    async def listed(
        self, scope: str, node: str, open_only: bool, limit: int, within: Callable[[str, str], bool]
    ) -> list[dict[str, Any]]:
        """The task list: the first ``limit`` cases by id among queue ``scope``'s rows (at or
        below ``node`` when given; not final if ``open_only``), each read by ``_id`` as of
        its latest version (a row lags its case until the sweeper repairs it: the case
        itself decides whether it is still open)."""
        ids = listed((await self.queue.rows(scope)).rows, node, open_only, within)
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), limit):
            docs = await self.heads(ids[start : start + limit])
            found += [d for d in docs if d and not (open_only and d["status"] in FINAL)]
            if len(found) >= limit:
                break
        return found[:limit]

    async def open_nodes(self, root: str) -> list[str]:
        """The place of each case not final, from the queue of the tree's root (every case
        routed below it; rows lag their cases by at most the sweep delay)."""
        rows = (await self.queue.rows(f"n:{root}")).rows
        return [r.node_id for r in rows if r.status not in FINAL]

    async def of_month(self, month: str) -> list[dict[str, Any]]:
        """The cases reported in ``month`` (an equality on the first field of an index:
        narrowed to that month's cases on FerretDB too, docs/storage.md)."""
        return [unpack(head) for head in await self.cases.find({"reported_month": month}).to_list()]

    # -- outbox pointers --------------------------------------------------------------------
    async def add_pending(self, pointers: list[dict[str, Any]]) -> set[str]:
        """Store pointers; the ids of those an earlier writer left (its work unfinished)."""
        return await insert_new(self.outbox, pointers)

    async def drop_pending(self, pointer_ids: list[str]) -> None:
        """Forget pointers whose side effects are done (a scan of the small outbox)."""
        if len(pointer_ids) == 1:
            await self.outbox.delete_one({"_id": pointer_ids[0]})
        elif pointer_ids:
            await self.outbox.delete_many({"_id": {"$in": pointer_ids}})

    async def pending_among(self, issue_ids: list[str], besides: str) -> set[str]:
        """Those of ``issue_ids`` that an outbox pointer other than ``besides`` names: a
        change of theirs whose side effects are not confirmed yet (a scan of the small
        outbox)."""
        found = await self.outbox.find(
            {
                "_id": {"$ne": besides},
                "$or": [{"issues": {"$in": issue_ids}}, {"issue_id": {"$in": issue_ids}}],
            }
        ).to_list()
        named = {i for p in found for i in (p.get("issues") or [p.get("issue_id")])}
        return named & set(issue_ids)

    async def stale_pending(self, stored_before: datetime, limit: int = 200) -> list[dict]:
        return (
            await self.outbox.find({"stored": {"$lte": stored_before}})
            .sort("stored", ASCENDING)
            .limit(limit)
            .to_list()
        )

    async def pending_count(self) -> int:
        return await self.outbox.count_documents({})

    async def heads(self, issue_ids: list[str]) -> list[dict[str, Any] | None]:
        return list(await asyncio.gather(*(self.get(i) for i in issue_ids)))

    # -- keys -------------------------------------------------------------------------------
    async def add_key(self, key: str, kind: str, code: str, at: datetime) -> None:
        """Store a key: its hash (the ``_id``, also the key id of signed Kafka actions) and
        the secret it signs Kafka actions with."""
        await self.keys.insert_one(
            {
                "_id": hash_key(key),
                "kind": kind,
                "code": code,
                "at": at,
                "signing": signing_secret(key),
            }
        )

    async def principal(self, key: str) -> Holder | None:
        doc = await self.keys.find_one({"_id": hash_key(key)})
        if doc is None or doc.get("revoked_at") is not None:
            return None
        return Holder(doc["kind"], doc["code"])

    async def signing_key(self, key_id: str) -> dict[str, Any] | None:
        """The key with that id if it may sign actions (not revoked, made with a secret)."""
        doc = await self.keys.find_one({"_id": key_id})
        if doc is None or doc.get("revoked_at") is not None or not doc.get("signing"):
            return None
        return doc

    async def list_keys(self) -> list[dict[str, Any]]:
        """Every key without its secret (the operators' list; the collection is small)."""
        return await self.keys.find({}, {"signing": 0}).sort("at", ASCENDING).to_list()

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        """Revoke the key with that id; False if there is none (or it was revoked already)."""
        result = await self.keys.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
        )
        return result.modified_count == 1
