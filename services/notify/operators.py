"""Operator keys: scoped to a tree node, stored hashed; shown once when created."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.notify.domain import hash_operator_secret, new_operator_key, split_operator_key
from services.notify.domain.refusals import NotSignedIn
from services.notify.store import NotifyStore
from shared.events import utcnow
from shared.residents import secrets_equal
from shared.staff_tokens import is_staff_token
from shared.staff_tokens import verify as verify_staff


async def create_operator(store: NotifyStore, *, node_id: str, name: str = "") -> str:
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    await store.add_operator(
        {
            "_id": key_id,
            "node_id": node_id,
            "name": name,
            "secret_hash": hash_operator_secret(secret),
            "created_at": utcnow(),
        }
    )
    return new_operator_key(key_id, secret)


def staff_operator(secret: str, token: str, now: datetime) -> dict[str, Any] | None:
    """A web console operator token as an operator (scoped to its node), else None."""
    claims = verify_staff(secret, token, now)
    if claims is None or claims.role != "operator":
        return None
    return {"_id": claims.actor_id, "node_id": claims.code, "name": claims.sub}


async def authenticate(store: NotifyStore, key: str) -> dict[str, Any] | None:
    parts = split_operator_key(key)
    if parts is None:
        return None
    key_id, secret = parts
    operator = await store.operator(key_id)
    if operator is None or operator.get("revoked"):
        return None
    if not secrets_equal(operator["secret_hash"], hash_operator_secret(secret)):
        return None
    return operator


class Operators:
    """Who an operator credential is: an operator key, or (when ``staff_secret`` is set) the
    web console's operator token; ``NotSignedIn`` for anything else."""

    def __init__(
        self, store: NotifyStore, *, staff_secret: str | None, clock: Callable[[], datetime]
    ):
        self._store = store
        self._staff_secret = staff_secret
        self._clock = clock

    async def who(self, credential: str) -> dict[str, Any]:
        if self._staff_secret is not None and is_staff_token(credential):
            found = staff_operator(self._staff_secret, credential, self._clock())
        else:
            found = await authenticate(self._store, credential) if credential else None
        if found is None:
            raise NotSignedIn("a valid operator key is required")
        return found
