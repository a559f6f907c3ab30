"""Who may act: keys for clerks (front desk, treasurer) and approvers (one party each),
scoped to funds. Only the SHA-256 of a key is stored; the key is shown once at creation."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from services.ledger.domain.approvals import DEFAULT_PARTIES
from services.ledger.store import LedgerStore
from shared.events import utcnow
from shared.staff_tokens import is_staff_token
from shared.staff_tokens import verify as verify_staff

# the web console's fund roles as the ledger's: the treasurer posts, which is a clerk's act
STAFF_ROLES = {"fund-clerk": "clerk", "fund-treasurer": "clerk", "fund-approver": "approver"}

ROLES = ("clerk", "approver")


class KeyRefused(Exception):
    """The key (or staff token) may not do this: ``unknown`` when it is missing, unknown or
    revoked; otherwise it is known but lacks the role or the fund."""

    def __init__(self, message: str, *, unknown: bool):
        super().__init__(message)
        self.unknown = unknown


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


def staff_holder(secret: str, token: str) -> dict[str, Any] | None:
    """A web console staff token as a key holder (same role and fund checks follow)."""
    claims = verify_staff(secret, token, utcnow())
    if claims is None or claims.role not in STAFF_ROLES:
        return None
    return {
        "_id": claims.actor_id,
        "name": claims.sub,
        "role": STAFF_ROLES[claims.role],
        "party": claims.party,
        "funds": [claims.code],
    }


async def authorise(
    store: LedgerStore,
    authorization: str | None,
    *,
    role: str,
    fund: str | None,
    staff_secret: str | None = None,
) -> dict[str, Any]:
    """The key's holder, if it has ``role`` on ``fund``; else ``KeyRefused``.
    ``staff_secret``: web console staff tokens are accepted too."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise KeyRefused("a ledger key is needed", unknown=True)
    credential = authorization[7:].strip()
    if staff_secret is not None and is_staff_token(credential):
        holder = staff_holder(staff_secret, credential)
    else:
        holder = await store.approver_by_hash(key_hash(credential))
    if holder is None:
        raise KeyRefused("unknown or revoked key", unknown=True)
    if holder["role"] != role:
        raise KeyRefused(f"this needs a {role} key", unknown=False)
    if fund is not None and "*" not in holder["funds"] and fund not in holder["funds"]:
        raise KeyRefused(f"this key does not act on {fund}", unknown=False)
    return holder
