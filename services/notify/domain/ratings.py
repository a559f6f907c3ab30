"""Signed return-visit (回访) links: what a rating link carries, and opening one."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rating_token(secret: str, *, issue_id: str, ref: str, visit: int, expires: datetime) -> str:
    """``<issue>.<ref>.<visit>.<expiry epoch>.<mac>``: what the return-visit link carries."""
    claims = f"{issue_id}.{ref}.{visit}.{int(expires.timestamp())}"
    mac = hmac.new(f"rating:{secret}".encode(), claims.encode(), hashlib.sha256).digest()
    return f"{claims}.{_b64(mac)}"


class BadRatingToken(ValueError):
    """A rating link that is forged, malformed or (``expired``) out of date."""

    def __init__(self, reason: str, *, expired: bool = False):
        super().__init__(reason)
        self.expired = expired


def open_rating_token(secret: str, token: str, now: datetime) -> tuple[str, str, int]:
    """(issue id, resident ref, visit) of a valid, unexpired token; ``BadRatingToken`` if not."""
    parts = token.split(".")
    if len(parts) != 5:
        raise BadRatingToken("malformed link")
    issue_id, ref, visit, expiry, mac = parts
    claims = ".".join(parts[:4])
    expected = hmac.new(f"rating:{secret}".encode(), claims.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
    except ValueError as exc:
        raise BadRatingToken("malformed link") from exc
    if not hmac.compare_digest(expected, given):
        raise BadRatingToken("the link's signature is wrong")
    if not (visit.isdigit() and expiry.isdigit()):
        raise BadRatingToken("malformed link")
    if now.timestamp() > int(expiry):
        raise BadRatingToken("the link has expired", expired=True)
    return issue_id, ref, int(visit)
