"""A case's timeline: every event dispatch published for it, in order, read from its own
records (version 1's events rebuilt from the routed case, each later version's from its change
document ``<issue>:<version>``, read by ``_id``). A department sees the case's lifecycle and
its own tasks, not other departments' tasks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from services.dispatch.domain.machine import Holder
from services.dispatch.store import CaseStore
from shared.events import DepartmentTaskV1

Events = list[dict[str, Any]]


async def case_timeline(
    store: CaseStore, routed: Callable[[dict[str, Any]], Events], doc: dict[str, Any], who: Holder
) -> list[dict[str, Any]]:
    issue_id = doc["_id"]
    later = range(2, doc["version"] + 1)
    changes = await asyncio.gather(*(store.change(issue_id, v) for v in later))
    stored = [(1, routed(doc))]
    stored += [(v, c["events"]) for v, c in zip(later, changes, strict=True) if c is not None]
    entries = []
    for version, events in stored:
        for event in events:
            entry = _entry(version, event)
            if who.kind == "department" and entry["department"] not in (None, who.code):
                continue
            entries.append(entry)
    return entries


def _entry(version: int, event: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(event["body"])
    task = event["type"] == DepartmentTaskV1.event_type
    owner = body.get("owner") or {}
    return {
        "version": version,
        "at": event["at"],
        "event_type": event["type"],
        "status": body.get("status") or ("assigned" if version == 1 and not task else None),
        "actor": body.get("actor") or (owner.get("code") if version == 1 and not task else None),
        "reason": body.get("reason"),
        "note": body.get("public_note") or (body.get("note") if task else None),
        "department": body.get("department") if task else None,
        "task": body.get("action") if task else None,
    }
