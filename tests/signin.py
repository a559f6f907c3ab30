"""A resident's token for tests: through notify's phone sign-in (the code read back from the
development outbox), the way a resident gets it; or minted with the test secret, for tests
whose subject is not the resident's own flow (the same HMACs the sign-in answers, see
``tests/integration/test_notify_signin_codes.py``). Intake never hands it out."""

from __future__ import annotations

import re

import httpx

from shared.residents import normalise_contact, resident_ref, resident_token

Signed = tuple[str, dict[str, str]]  # the resident's reference, and the bearer header


async def sign_in(notify: httpx.AsyncClient, phone: str, base: str = "") -> Signed:
    """Sign in as ``phone`` through notify (``base``: its URL when the client has none):
    ask for a code, read it in the development outbox, trade it for the token."""
    asked = await notify.post(f"{base}/api/v1/residents/signin-codes", json={"phone": phone})
    assert asked.status_code == 202, asked.text
    outbox = await notify.get(f"{base}/api/v1/dev/sms-outbox", params={"to": phone})
    assert outbox.status_code == 200, outbox.text
    code = re.search(r"\b(\d{6})\b", outbox.json()["texts"][0]["text"]).group(1)
    done = await notify.post(f"{base}/api/v1/residents/signin", json={"phone": phone, "code": code})
    assert done.status_code == 200, done.text
    signed = done.json()
    return signed["resident_ref"], {"Authorization": f"Bearer {signed['resident_token']}"}


def minted(secret: str, phone: str | None = None, email: str | None = None) -> Signed:
    """What ``sign_in`` gives for ``phone`` (or a resident known by ``email``, who has no
    sign-in yet), minted with the resident secret directly."""
    ref = resident_ref(secret, normalise_contact(phone, email))
    return ref, {"Authorization": f"Bearer {resident_token(secret, ref)}"}
