"""Staff tokens: how dispatch, notify, the ledger and consult trust the web console's
signed-in person.

The web signs a short-lived token for each call it makes on a person's behalf, carrying that
person's scope (an office node, a department, a fund role, an operator's node). The services
verify it with the shared key (``LINLI_WEB_TOKEN_SECRET``, HMAC-SHA256) beside their own keys
and then check the scope exactly as for a key of the same kind: the web never holds more
power than the person.

Format: ``lw1.<claims: base64url JSON>.<signature: base64url HMAC-SHA256 of "lw1.<claims>">``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime

PREFIX = "lw1."
MAX_TOKEN_CHARS = 2048
ROLES = ("office", "department", "fund-clerk", "fund-treasurer", "fund-approver", "operator",
         "compound-party")  # fmt: skip


@dataclass(frozen=True)
class StaffClaims:
    """Who acts (``sub``: the web account), as what (``role``) and where (``code``: a node id
    for office and operator, a compound's node id for a compound party, a department code, or
    a fund id or ``*`` for fund roles); ``party`` names an approver's or a compound party's
    party. ``exp`` is a Unix time."""

    sub: str
    role: str
    code: str
    exp: int
    party: str | None = None

    @property
    def actor_id(self) -> str:
        return f"web:{self.sub}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, signed: str) -> str:
    return _b64(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest())


def sign(secret: str, claims: StaffClaims) -> str:
    body = _b64(json.dumps(asdict(claims), separators=(",", ":"), sort_keys=True).encode())
    signed = PREFIX + body
    return f"{signed}.{_signature(secret, signed)}"


def is_staff_token(credential: str) -> bool:
    return credential.startswith(PREFIX)


def verify(secret: str, token: str, now: datetime) -> StaffClaims | None:
    """The claims of a genuine, unexpired token; None for anything else."""
    if len(token) > MAX_TOKEN_CHARS or not token.startswith(PREFIX):
        return None
    signed, _, signature = token.rpartition(".")
    if not hmac.compare_digest(signature.encode(), _signature(secret, signed).encode()):
        return None
    try:
        raw = json.loads(_unb64(signed.removeprefix(PREFIX)))
        claims = StaffClaims(
            sub=str(raw["sub"]),
            role=str(raw["role"]),
            code=str(raw["code"]),
            exp=int(raw["exp"]),
            party=None if raw.get("party") is None else str(raw["party"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if claims.role not in ROLES or claims.exp <= now.timestamp():
        return None
    return claims
