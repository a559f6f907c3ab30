"""Browser-facing protections: strict security headers on every answer, and the CSRF checks
(the sign-in form's double-submit cookie, the session's token on every other form)."""

from __future__ import annotations

import hmac
from typing import Any

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
NO_STORE = (b"cache-control", b"no-store")
PAGE_HEADERS = (b"content-type", b"content-length")
# the shared body limit answers in JSON; a browser gets a page instead
TOO_LARGE_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>413</title>'
    '<link rel="stylesheet" href="/static/console.css"></head><body><main id="main">'
    "<h1>提交的内容过大 · The form was too large</h1>"
    '<p class="error" role="alert">请缩短内容后返回重试。Shorten it, go back and try again.</p>'
    '<p><a href="/">返回 · Back</a></p></main></body></html>'
).encode()


class SecurityHeaders:
    """Pure ASGI: adds the headers to every response; pages (not static files) are no-store."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        too_large = False

        async def with_headers(message):
            nonlocal too_large
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + HEADERS
                if not static:
                    headers.append(NO_STORE)
                if message["status"] == 413:
                    too_large = True
                    headers = [h for h in headers if h[0] not in PAGE_HEADERS] + [
                        (b"content-type", b"text/html; charset=utf-8"),
                        (b"content-length", str(len(TOO_LARGE_PAGE)).encode()),
                    ]
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and too_large:
                message = {"type": "http.response.body", "body": TOO_LARGE_PAGE}
            await send(message)

        await self.app(scope, receive, with_headers)


def same_token(expected: str | None, given: Any) -> bool:
    """Constant-time equality of a CSRF token; anything missing or not text is a mismatch."""
    if not expected or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to (never another site: no scheme, no //, no backslash)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target[:500]
