"""Who may act: offices (keys scoped to a node: they act on their subtree) and the three
parties of a compound (one key each). Only the SHA-256 of a key is stored; the key is shown
once. The web console's staff tokens (``shared.staff_tokens``) are accepted beside the keys:
an ``office`` token is an office at its node, a ``compound-party`` token that party of its
compound; every other role is refused. Residents prove who they are with their reference
and inbox token (``shared.residents``), or with a paper one-time code the office printed
for their household."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from services.consult.domain.resolutions import ALL_PARTIES
from services.consult.store import ConsultStore
from shared.events import utcnow
from shared.http.errors import ApiError
from shared.reference.tree import Tree
from shared.staff_tokens import is_staff_token
from shared.staff_tokens import verify as verify_staff


@dataclass(frozen=True)
class Principal:
    kind: str  # office | party
    node: str
    party: str | None
    key_id: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    store: ConsultStore, tree: Tree, *, name: str, node: str, party: str | None
) -> tuple[str, str]:
    """(key id, key) for the office at ``node``, or for ``party`` of the compound ``node``."""
    found = tree.get(node)
    if found is None:
        raise ValueError(f"no node {node} in the tree")
    if party is not None:
        if party not in ALL_PARTIES:
            raise ValueError(f"party must be one of {', '.join(ALL_PARTIES)}")
        if found.level != "compound":
            raise ValueError("a party key belongs to a compound")
    key_id = "ck_" + secrets.token_hex(6)
    key = f"lc_{key_id[3:]}_{secrets.token_urlsafe(24)}"
    doc: dict[str, Any] = {
        "_id": key_hash(key),
        "key_id": key_id,
        "name": name,
        "kind": "party" if party else "office",
        "node": node,
        "party": party,
        "created_at": utcnow(),
    }
    await store.keys.insert_one(doc)
    return key_id, key


def staff_principal(secret: str, token: str) -> Principal | None:
    """A web console staff token as an office or a compound's party; None for anything else
    (a bad or expired token, or a role consult does not know)."""
    claims = verify_staff(secret, token, utcnow())
    if claims is None:
        return None
    if claims.role == "office":
        return Principal("office", claims.code, None, claims.actor_id)
    if claims.role == "compound-party" and claims.party in ALL_PARTIES:
        return Principal("party", claims.code, claims.party, claims.actor_id)
    return None


async def principal(
    store: ConsultStore, authorization: str | None, staff_secret: str | None = None
) -> Principal:
    """The key's (or, with ``staff_secret``, the staff token's) holder; else 401."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(
            401, "unauthenticated", "send Authorization: Bearer <key>", "header.authorization"
        )
    credential = authorization[7:].strip()
    if staff_secret is not None and is_staff_token(credential):
        who = staff_principal(staff_secret, credential)
        if who is None:
            raise ApiError(401, "unauthenticated", "invalid staff token", "header.authorization")
        return who
    doc = await store.keys.find_one({"_id": key_hash(credential)})
    if doc is None:
        raise ApiError(401, "unauthenticated", "unknown key", "header.authorization")
    return Principal(doc["kind"], doc["node"], doc.get("party"), doc["key_id"])


def office_over(tree: Tree, who: Principal, node: str) -> None:
    """Only the office that owns a node (the node itself or a node above it) acts on it."""
    if who.kind != "office":
        raise ApiError(403, "forbidden", "this needs an office key", "header.authorization")
    if not tree.is_within(node, who.node):
        raise ApiError(403, "forbidden", f"{node} is outside {who.node}", "header.authorization")
