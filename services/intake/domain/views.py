"""What residents are shown of the read model's documents: their own report, a report they
follow, and another's report offered as a possible duplicate. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.intake.domain.open311 import iso
from services.intake.domain.status import CaseStatus, open311_status
from shared.masking import mask_contacts


def resident_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What a resident sees of their report: no other resident's reference or contact."""
    history = sorted(doc.get("history", []), key=lambda h: (h.get("sequence", 0), h["at"]))
    return {
        "issue_id": doc["_id"],
        "category": doc.get("category", ""),
        "node_id": doc.get("node_id", ""),
        "description": doc.get("description"),
        "attributes": doc.get("attributes", {}),
        "media_url": doc.get("media_url"),
        "status": doc.get("status", CaseStatus.REPORTED.value),
        "open311_status": open311_status(doc.get("status")).value,
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


def follower_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A report someone else filed, as its follower sees it: the reporter's words with the
    contact details in them masked, as in the duplicate offer."""
    view = resident_view(doc)
    if view["description"]:
        view["description"] = mask_contacts(view["description"])
    view["attributes"] = {
        name: mask_contacts(value) if isinstance(value, str) else value
        for name, value in view["attributes"].items()
    }
    return view


def duplicate_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Another resident's open report, offered as a possible duplicate (their words masked)."""
    return {
        "issue_id": doc["_id"],
        "category": doc.get("category"),
        "node_id": doc.get("node_id"),
        "status": doc.get("status", CaseStatus.REPORTED.value),
        "reported_at": iso(doc.get("reported_at")),
        "description": mask_contacts(doc.get("description", "")),
    }
