"""Pseudonymous resident references and the tokens that let a resident read their own data.

A reference is an HMAC of the resident's normalised contact (so the same phone number always
maps to the same reference, and the reference reveals nothing). Tokens are HMACs of a subject
with a purpose, so a token for one purpose never passes for another:

- the resident token (purpose ``inbox``, over the reference) opens everything of that resident
  (their reports, inbox, preferences, ballots). Only a verified sign-in issues it (notify's
  one-time codes); typing a phone number into a report never does.
- the report token (purpose ``report``, over an issue id) opens that one report, and nothing
  else; intake answers a filing with it. A follow is answered with the follower's token
  (purpose ``follow``): that report alone too, as other residents see it (contacts masked).

Every service that checks them holds the same key.
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


RESIDENT_PURPOSE = "inbox"  # the resident-wide token's (the name predates what it opens now)
REPORT_PURPOSE = "report"
FOLLOW_PURPOSE = "follow"


def resident_token(secret: str, ref: str, purpose: str = RESIDENT_PURPOSE) -> str:
    mac = hmac.new(secret.encode(), f"{purpose}:{ref}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def report_token(secret: str, issue_id: str, purpose: str = REPORT_PURPOSE) -> str:
    """The token that opens one report (``issue_id``) and nothing else: as its reporter
    (``REPORT_PURPOSE``) or as a follower (``FOLLOW_PURPOSE``)."""
    return resident_token(secret, issue_id, purpose)


def secrets_equal(expected: str, given: str) -> bool:
    """Constant-time comparison of a secret with what a client sent. Compares UTF-8 bytes:
    ``hmac.compare_digest`` refuses str with non-ASCII characters (a TypeError, so a 500)."""
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogateescape"), given.encode("utf-8", "surrogateescape")
    )


def token_matches(secret: str, ref: str, token: str, purpose: str = RESIDENT_PURPOSE) -> bool:
    return secrets_equal(resident_token(secret, ref, purpose), token)


def report_token_matches(
    secret: str, issue_id: str, token: str, purpose: str = REPORT_PURPOSE
) -> bool:
    return secrets_equal(report_token(secret, issue_id, purpose), token)
