"""CloudEvents 1.0 envelope in Kafka's binary content mode.

The attributes travel as ``ce_*`` headers and the JSON payload is the record value, so any
Kafka client can read the data while tools that speak CloudEvents see a proper event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
_NAMESPACE = uuid.UUID("6f1c2b1e-5a4e-4c4d-9d0f-6c696e6c6931")


def derived_event_id(*parts: str) -> str:
    """A deterministic event id from its causes, so a redelivered input yields the same id."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The CloudEvents attributes of one event."""

    type: str
    source: str
    subject: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=utcnow)
    dataschema: str | None = None

    def to_headers(self) -> dict[str, str]:
        headers = {
            "ce_specversion": SPEC_VERSION,
            "ce_id": self.id,
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_time": self.time.isoformat(),
            "ce_subject": self.subject,
            "content-type": CONTENT_TYPE,
        }
        if self.dataschema:
            headers["ce_dataschema"] = self.dataschema
        return headers

    def record_headers(self) -> list[tuple[str, bytes]]:
        """The headers as a Kafka record carries them (values in UTF-8)."""
        return [(k, v.encode()) for k, v in self.to_headers().items()]

    @classmethod
    def from_headers(cls, headers: dict[str, Any]) -> Envelope:
        """Read the attributes back; a missing or malformed one raises ``ValueError``."""
        text = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()}
        if text.get("ce_specversion") != SPEC_VERSION:
            raise ValueError(f"ce_specversion must be {SPEC_VERSION!r}")
        missing = [a for a in ("ce_id", "ce_source", "ce_type", "ce_time") if not text.get(a)]
        if missing:
            raise ValueError(f"missing CloudEvents header(s): {', '.join(missing)}")
        return cls(
            type=text["ce_type"],
            source=text["ce_source"],
            subject=text.get("ce_subject", ""),
            id=text["ce_id"],
            time=datetime.fromisoformat(text["ce_time"]),
            dataschema=text.get("ce_dataschema"),
        )
