"""Helpers for the residents' pages' tests: a resident signed in by the one-time code read
from the development outbox, staff acting through dispatch's API, and a tiny photo."""

from __future__ import annotations

import base64
import os
import re
import struct
import time
import uuid
import zlib

import httpx

from shared.staff_tokens import StaffClaims, sign
from tests.web.conftest import Platform, csrf_of

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def noisy_png(side: int) -> bytes:
    """A ``side`` x ``side`` RGB PNG of random noise (it hardly compresses: a large photo)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + os.urandom(side * 3) for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1))
            + chunk(b"IEND", b""))  # fmt: skip


PLACE = "sz.tongjiang.niuerqiao.hongqi"
BUILDING = "sz.tongjiang.niuerqiao.hongqi.b02"


def wait_for(probe, timeout_s: float = 40.0, interval_s: float = 0.4):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(interval_s)
    raise AssertionError("not seen in time")


def outbox_code(platform: Platform, phone: str) -> str:
    page = httpx.get(f"{platform.url('web')}/dev/outbox", params={"to": phone}, timeout=20)
    return re.search(r'class="sms">[^<]*?(\d{6})', page.text).group(1)


def resident(platform: Platform, phone: str, lang: str = "zh-CN") -> httpx.Client:
    """A client signed in as the resident with ``phone`` (code from the dev outbox)."""
    client = httpx.Client(base_url=platform.url("web"), timeout=20)
    client.cookies.set("linli_lang", lang)
    form = client.get("/phone")
    asked = client.post("/phone", data={"csrf": csrf_of(form.text), "phone": phone, "next": "/me"})
    assert asked.status_code == 200, asked.text
    code = outbox_code(platform, phone)
    signed = client.post("/phone/code", data={"csrf": csrf_of(asked.text), "phone": phone,
                         "code": code, "next": "/me"})  # fmt: skip
    assert signed.status_code == 303 and signed.headers["location"] == "/me", signed.text
    return client


def staff_token(platform: Platform, role: str, code: str) -> str:
    secret = platform.settings.web_token_secret.get_secret_value()
    return sign(secret, StaffClaims(code, role, code, int(time.time()) + 600))


def department_acts(platform: Platform, issue_id: str, action: str, **fields) -> None:
    token = staff_token(platform, "department", "urban-mgmt")
    answer = httpx.post(
        f"{platform.url('dispatch')}/api/v1/dispatch/cases/{issue_id}/actions",
        json={"action_id": uuid.uuid4().hex, "action": action, **fields},
        headers={"Authorization": f"Bearer {token}"}, timeout=20,
    )  # fmt: skip
    assert answer.status_code < 300, answer.text


def resolve_and_visit(platform: Platform, issue_id: str) -> None:
    """The department takes the case up and resolves it; the clock moves past the return
    visit's working day so dispatch asks the reporter for a rating."""
    wait_for(lambda: _case_status(platform, issue_id) not in (None, "reported"))
    department_acts(platform, issue_id, "acknowledge")
    department_acts(platform, issue_id, "resolve", note="灯已修好")
    token = staff_token(platform, "office", "sz")
    moved = httpx.post(f"{platform.url('dispatch')}/api/v1/dispatch/dev/clock",
                       json={"advance_s": 4 * 86400},
                       headers={"Authorization": f"Bearer {token}"}, timeout=20)  # fmt: skip
    assert moved.status_code == 200, moved.text


def _case_status(platform: Platform, issue_id: str) -> str | None:
    token = staff_token(platform, "department", "urban-mgmt")
    answer = httpx.get(f"{platform.url('dispatch')}/api/v1/dispatch/cases/{issue_id}",
                       headers={"Authorization": f"Bearer {token}"}, timeout=20)  # fmt: skip
    return answer.json().get("status") if answer.status_code == 200 else None


def rating_token(client: httpx.Client, issue_id: str) -> str:
    """The rating link's token from the resident's inbox (once dispatch asked)."""

    def look() -> str | None:
        page = client.get("/me/inbox").text
        found = re.search(rf"/rate/({re.escape(issue_id)}\.[A-Za-z0-9_.:-]+)", page)
        return found.group(1) if found else None

    return wait_for(look, timeout_s=60)
