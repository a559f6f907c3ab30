"""Webhook signatures (DingTalk/WeCom robot style)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime


def robot_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>"))."""
    text = f"{timestamp_ms}\n{secret}"
    return base64.b64encode(
        hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    ).decode()


def body_signature(secret: str, timestamp_ms: int, body: bytes) -> str:
    """Hex HMAC-SHA256 over "<timestamp>.<body>": binds the signature to the content too."""
    return hmac.new(secret.encode(), f"{timestamp_ms}.".encode() + body, hashlib.sha256).hexdigest()


def signature_fresh(timestamp_ms: int, now: datetime, window_s: int = 3600) -> bool:
    return abs(now.timestamp() * 1000 - timestamp_ms) <= window_s * 1000
