"""Poll documents to domain values and back."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from services.consult.domain.polls import Option, Poll, Rules


def poll_from_doc(doc: dict[str, Any]) -> Poll:
    rules = Rules(
        kind=doc["kind"],
        options=tuple(Option(o["id"], o["label"]) for o in doc["options"]),
        max_choices=doc["max_choices"],
        quorum_percent=doc["quorum_percent"],
        opens_at=doc.get("opens_at"),
        closes_at=doc.get("closes_at"),
    )
    return Poll(
        id=doc["_id"],
        node_id=doc["node_id"],
        office=doc["office"],
        question=doc["question"],
        rules=rules,
        status=doc["status"],
        consultation_id=doc.get("consultation_id"),
        roll_size=doc.get("roll_size", 0),
        opened_at=doc.get("opened_at"),
        closed_at=doc.get("closed_at"),
        version=doc.get("version", 0),
    )


def poll_to_doc(poll: Poll, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The poll's own fields, over ``extra`` (announcement flags, results) kept as they are."""
    rules = poll.rules
    return {
        **(extra or {}),
        "_id": poll.id,
        "node_id": poll.node_id,
        "office": poll.office,
        "question": poll.question,
        "kind": rules.kind,
        "options": [asdict(o) for o in rules.options],
        "max_choices": rules.max_choices,
        "quorum_percent": rules.quorum_percent,
        "opens_at": rules.opens_at,
        "closes_at": rules.closes_at,
        "status": poll.status,
        "consultation_id": poll.consultation_id,
        "roll_size": poll.roll_size,
        "opened_at": poll.opened_at,
        "closed_at": poll.closed_at,
        "version": poll.version,
    }
