"""Who may act: keys for clerks (front desk, treasurer) and approvers (one party each),
scoped to funds. Only the SHA-256 of a key is stored; the key is shown once at creation."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from services.ledger.domain.approvals import DEFAULT_PARTIES
from services.ledger.store import LedgerStore
from shared.events import utcnow
from shared.http.errors import ApiError

ROLES = ("clerk", "approver")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    store: LedgerStore, *, name: str, role: str, party: str | None, funds: list[str]
) -> tuple[str, str]:
    """(key id, key). Approvers speak for one party; funds ``["*"]`` means every fund."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if role == "approver" and not party:
        raise ValueError(f"an approver needs a party, e.g. {', '.join(DEFAULT_PARTIES)}")
    key_id = "k_" + secrets.token_hex(6)
    key = f"lk_{key_id[2:]}_{secrets.token_urlsafe(24)}"
    await store.add_approver(
        {
            "_id": key_id,
            "name": name,
            "role": role,
            "party": party,
            "funds": funds or ["*"],
            "key_hash": key_hash(key),
            "active": True,
            "created_at": utcnow(),
        }
    )
    return key_id, key


async def authorise(
    store: LedgerStore, authorization: str | None, *, role: str, fund: str | None
) -> dict[str, Any]:
    """The key's holder, if it has ``role`` on ``fund``; else 401/403 in the error format."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "unauthenticated", "a ledger key is needed", "header.authorization")
    holder = await store.approver_by_hash(key_hash(authorization[7:].strip()))
    if holder is None:
        raise ApiError(401, "unauthenticated", "unknown or revoked key", "header.authorization")
    if holder["role"] != role:
        raise ApiError(403, "forbidden", f"this needs a {role} key", "header.authorization")
    if fund is not None and "*" not in holder["funds"] and fund not in holder["funds"]:
        raise ApiError(403, "forbidden", f"this key does not act on {fund}", "header.authorization")
    return holder
