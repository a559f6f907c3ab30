"""Identifiers: time-ordered, URL-safe, lower-case (they appear in URLs and Kafka keys)."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """``<prefix>_`` + 10 characters of milliseconds + 16 random: sortable by creation time."""
    return f"{prefix}_{_encode(int(time.time() * 1000), 10)}{_encode(secrets.randbits(80), 16)}"
