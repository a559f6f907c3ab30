"""Departments' actions on their tasks, by Kafka (topic ``dept.actions``, keyed by issue id),
and the outcome of each (topic ``dept.<code>.outcomes``).

The same actions exist over HTTP. ``action_id`` is chosen by the sender and makes a resend
harmless: dispatch applies each action id once per case.

An action sent over Kafka is signed with the sender's dispatch key (the key of
``linli dispatch keys create``): ``key_id`` is the SHA-256 of the key (hex) and ``signature``
the HMAC-SHA256 (hex) of ``canonical_action`` under the key's signing secret,
``HMAC-SHA256(key, "linli-dispatch-signing-v1")`` in hex. The canonical form is
``linli.dept.action.v1`` and a newline, then the JSON object of every field but ``signature``,
leaving out those that are null or an empty list (``actor_kind`` is always there; fields the
schema does not have are ignored and not signed), with keys
sorted, no spaces, non-ASCII as UTF-8, and times in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
(a time without an offset is taken as UTC).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.base import EventPayload, IssueId

ActionType = Literal[
    "acknowledge",
    "progress",
    "resolve",
    "reject",
    "transfer",
    "request-extension",
    "decide-extension",
    "call-up",
    "whistle",
    "merge",
    "urge",
    "reprimand",
]


class ActionTarget(BaseModel):
    """A department or an office (tree node) that a case is transferred to."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["department", "office"]
    code: str = Field(min_length=1, max_length=200)


class DepartmentActionV1(EventPayload):
    """A department (or office) acts on a case: acknowledge, progress note, resolve with a
    note and photo link, reject or transfer with a reason, ask for an extension."""

    event_type: ClassVar[str] = "linli.dept.action.v1"
    subject_field: ClassVar[str] = "issue_id"

    action_id: str = Field(min_length=8, max_length=100, description="Sender's id; dedupes.")
    issue_id: IssueId
    actor_kind: Literal["department", "office"] = "department"
    actor: str = Field(min_length=1, max_length=200, description="Department code or node id.")
    action: ActionType
    note: str | None = Field(None, max_length=2000, description="Progress or resolution note.")
    photo_url: str | None = Field(None, max_length=1000, pattern=r"^https?://")
    reason: str | None = Field(None, max_length=1000)
    to: ActionTarget | None = Field(None, description="Target of a transfer.")
    until: datetime | None = Field(None, description="Requested new deadline (extension).")
    departments: tuple[str, ...] = Field((), description="Departments to summon (whistle).")
    holder: str | None = Field(
        None, description="Whose extension is decided; whom an urge or reprimand presses."
    )
    approve: bool | None = None
    into: IssueId | None = Field(None, description="Case this one duplicates (merge).")
    sent_at: datetime
    key_id: str | None = Field(
        None, max_length=64, description="SHA-256 (hex) of the sender's dispatch key (Kafka)."
    )
    signature: str | None = Field(
        None, max_length=64, description="HMAC-SHA256 (hex) of the canonical form (Kafka)."
    )


SIGNING_CONTEXT = b"linli-dispatch-signing-v1"


def key_id(api_key: str) -> str:
    """The public id of a dispatch key: its SHA-256 in hex (what dispatch stores)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def signing_secret(api_key: str) -> str:
    """The secret a key signs Kafka actions with (dispatch keeps it; the key stays hashed)."""
    return hmac.new(api_key.encode(), SIGNING_CONTEXT, hashlib.sha256).hexdigest()


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):  # a time without an offset is taken as UTC
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dict):
        return {k: _canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(v) for v in value]
    return value


def canonical_action(action: DepartmentActionV1) -> bytes:
    """The bytes a Kafka action's signature covers (see the module's docstring)."""
    fields = {
        name: _canonical_value(value)
        for name, value in action.model_dump(exclude={"signature"}).items()
        if value is not None and value != () and value != []
    }
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return DepartmentActionV1.event_type.encode() + b"\n" + body.encode()


def action_signature(action: DepartmentActionV1, secret: str) -> str:
    return hmac.new(secret.encode(), canonical_action(action), hashlib.sha256).hexdigest()


def signed(action: DepartmentActionV1, api_key: str) -> DepartmentActionV1:
    """``action`` with ``key_id`` and ``signature`` set for ``api_key`` (what a sender does)."""
    keyed = action.model_copy(update={"key_id": key_id(api_key), "signature": None})
    return keyed.model_copy(update={"signature": action_signature(keyed, signing_secret(api_key))})


class DepartmentActionOutcomeV1(EventPayload):
    """What became of one action a department sent over Kafka (topic ``dept.<code>.outcomes``,
    keyed by issue id): applied (``duplicate`` if it was applied before) or refused with a
    stable ``code``, the ``field`` it is about and a ``reason`` for people."""

    event_type: ClassVar[str] = "linli.dept.outcome.v1"
    subject_field: ClassVar[str] = "issue_id"

    action_id: str = Field(min_length=8, max_length=100)
    issue_id: IssueId
    department: str = Field(description="The department that sent the action.")
    action: ActionType
    outcome: Literal["applied", "refused"]
    duplicate: bool = Field(False, description="Applied before (a resend).")
    code: str | None = Field(
        None, description="Why it was refused: not_holder, not_acknowledged, unknown_case, …"
    )
    field: str | None = Field(None, description="The action's field the refusal is about.")
    reason: str | None = Field(None, description="The refusal, for people.")
    status: str | None = Field(None, description="The case's status after the action.")
    version: int | None = Field(None, ge=1, description="The case's version after the action.")
    at: datetime
