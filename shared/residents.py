"""Pseudonymous resident references and the tokens that let a resident read their own data.

A reference is an HMAC of the resident's normalised contact (so the same phone number always
maps to the same reference, and the reference reveals nothing). A token is an HMAC of the
reference with a purpose, issued by intake and checked by notify; both hold the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_REF_LEN = 24


def _b32(digest: bytes) -> str:
    return base64.b32encode(digest).decode().rstrip("=").lower()


def normalise_contact(phone: str | None, email: str | None) -> str | None:
    """The identity a reference is derived from: the phone's digits, else the email lowered."""
    if phone:
        digits = re.sub(r"\D", "", phone)
        if digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        return f"tel:{digits}"
    if email:
        return f"mailto:{email.strip().lower()}"
    return None


def resident_ref(secret: str, identity: str | None) -> str:
    """Stable reference for an identity; a fresh random one when there is none."""
    if identity is None:
        return "res_" + _b32(secrets.token_bytes(15))[:_REF_LEN]
    mac = hmac.new(secret.encode(), identity.encode(), hashlib.sha256).digest()
    return "res_" + _b32(mac)[:_REF_LEN]


def resident_token(secret: str, ref: str, purpose: str = "inbox") -> str:
    mac = hmac.new(secret.encode(), f"{purpose}:{ref}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def secrets_equal(expected: str, given: str) -> bool:
    """Constant-time comparison of a secret with what a client sent. Compares UTF-8 bytes:
    ``hmac.compare_digest`` refuses str with non-ASCII characters (a TypeError, so a 500)."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogateescape"), given.encode("utf-8", "surrogateescape")
    )


def token_matches(secret: str, ref: str, token: str, purpose: str = "inbox") -> bool:
    return secrets_equal(resident_token(secret, ref, purpose), token)
