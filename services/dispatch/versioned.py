"""Documents that several writers change at once, kept without losing a change on FerretDB v1.

FerretDB v1 applies an update, or a replace conditioned on a version (``{_id, rev}``), as
read, change, write back, without checking that the document stayed the same in between: of
two updates of one document at once one can be lost, and the conditioned replace can succeed
for both writers (tests/integration/test_dispatch_queue_races.py shows both). What the
server does decide is an insert: ``_id`` is unique. So such a document is versioned:

- each version is inserted whole as ``<key>#<rev>`` into a versions collection; the insert is
  the compare-and-set: of two writers that read rev r, one inserts ``#r+1`` and the other
  gets a duplicate key, reads the newer version and applies its change to it again;
- the head document ``key``, the one readers read by ``_id``, is then replaced by the new
  version and rolled forward while a newer version exists (whichever replace lands last,
  its writer's check afterwards sees the newest); a writer that dies after its insert leaves
  a version newer than the head, which the next write (or a reader) rolls forward to;
- a version ``KEEP`` revs old is emptied, its id kept (a roll forward steps over it, and a
  writer that lagged can never insert that rev again).

A change is a function of the current fields (None: the document does not exist yet) that
answers the new fields, or None when it has nothing to change; "nothing to change" is
checked against the newest version (a head can lag behind it for a moment), so the fields a
write answers are those of the newest version when it was done (the wheel's seal relies on
it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.kafka.failures import TransientError

KEEP = 8
ATTEMPTS = 30
META = ("_id", "rev", "gone")
Fields = dict[str, Any]
Change = Callable[[Fields | None], Fields | None]


class Busy(TransientError):
    """The document kept changing under this writer: try the write again later."""


def _fields(doc: dict[str, Any]) -> Fields:
    return {k: v for k, v in doc.items() if k not in META}


class Versioned:
    def __init__(self, heads: AsyncCollection, versions: AsyncCollection):
        self.heads, self.versions = heads, versions

    async def latest(self, key: str) -> tuple[int, Fields | None]:
        """(rev, fields) of the newest version: the head, rolled forward (rev 0: none)."""
        head = await self.heads.find_one({"_id": key})
        if head is None:
            return await self._forward(key, 0, None)
        return await self._forward(key, int(head.get("rev", 0)), _fields(head))

    async def newer(self, key: str, rev: int, fields: Fields | None) -> tuple[int, Fields | None]:
        """The newest version after ``rev`` (``fields``), if any; the head lagged behind it."""
        return await self._forward(key, rev, fields)

    async def write(self, key: str, change: Change) -> tuple[int, Fields | None]:
        """Apply ``change`` to the newest version; the rev and fields of the version that
        holds it (the versions are one order: a later writer's change sees this one)."""
        head = await self.heads.find_one({"_id": key})
        rev = published = int(head.get("rev", 0)) if head is not None else 0
        fields = _fields(head) if head is not None else None
        for _ in range(ATTEMPTS):
            new = change(fields)
            if new is None:  # nothing to change as of the head: as of the newest version?
                newer, newer_fields = await self._forward(key, rev, fields)
                if newer == rev:
                    if rev > published and fields is not None:  # its writer died before
                        await self._publish(key, rev, fields)  # copying it to the head
                    return rev, fields
                rev, fields = newer, newer_fields
                continue
            try:
                await self.versions.insert_one({"_id": f"{key}#{rev + 1}", "rev": rev + 1, **new})
            except DuplicateKeyError:
                rev, fields = await self._forward(key, rev, fields)
                continue
            await self._publish(key, rev + 1, new)
            if rev + 1 > KEEP:
                old = rev + 1 - KEEP
                await self.versions.replace_one({"_id": f"{key}#{old}"}, {"rev": old, "gone": True})
            return rev + 1, new
        raise Busy(key)

    async def _forward(
        self, key: str, rev: int, fields: Fields | None
    ) -> tuple[int, Fields | None]:
        while True:
            found = await self.versions.find_one({"_id": f"{key}#{rev + 1}"})
            if found is None:
                return rev, fields
            rev += 1
            if not found.get("gone"):
                fields = _fields(found)

    async def _publish(self, key: str, rev: int, fields: Fields) -> None:
        """Replace the head by version ``rev``, then by any newer one found afterwards."""
        while True:
            try:
                await self.heads.replace_one({"_id": key}, {"rev": rev, **fields}, upsert=True)
            except DuplicateKeyError:  # two writers created the head at once: replace it
                await self.heads.replace_one({"_id": key}, {"rev": rev, **fields})
            newer, newer_fields = await self._forward(key, rev, fields)
            if newer == rev or newer_fields is None:
                return
            rev, fields = newer, newer_fields
