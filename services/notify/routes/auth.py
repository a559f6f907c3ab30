"""What every route of notify shares: the credential out of a request, and the answers a
route documents for it."""

from __future__ import annotations

UNAUTHORIZED = {401: {"description": "Missing or wrong token"}, 503: {"description": "Down"}}


def bearer(authorization: str) -> str:
    """The credential of ``Authorization: Bearer <credential>`` (empty when none)."""
    return authorization.removeprefix("Bearer ").strip()
