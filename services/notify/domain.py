"""Notify's rules, without I/O: residents' preferences, quiet hours, which channels a message
goes to and in which order, retry delays, signed rating links and webhook signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
LANGUAGES = ("zh-CN", "en")
CHANNELS = ("inbox", "email", "webhook", "sms")
EXTERNAL = ("email", "webhook", "sms")
Channel = Literal["inbox", "email", "webhook", "sms"]
Language = Literal["zh-CN", "en"]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class QuietHours(BaseModel):
    """Local (Beijing) time span when only the silent inbox is used: a message that is not
    urgent goes to the inbox at once, and email, webhook or SMS waits for the span's end.
    May cross midnight."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: str = Field(description="HH:MM, Beijing time.", examples=["22:00"])
    end: str = Field(description="HH:MM, Beijing time.", examples=["07:00"])

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be HH:MM (00:00-23:59)")
        return value

    def _times(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)

    def contains(self, at: datetime) -> bool:
        start, end = self._times()
        local = at.astimezone(LOCAL_TZ).time()
        if start == end:
            return False
        if start < end:
            return start <= local < end
        return local >= start or local < end

    def ends_after(self, at: datetime) -> datetime:
        """The first moment after ``at`` outside the quiet hours (``at`` itself if outside)."""
        if not self.contains(at):
            return at
        _, end = self._times()
        local = at.astimezone(LOCAL_TZ)
        candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if candidate <= local:
            candidate += timedelta(days=1)
        return candidate


class Webhook(BaseModel):
    """A chat-robot webhook (DingTalk/WeCom style): URL and the secret that signs requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^https?://", max_length=500)
    secret: str = Field(min_length=8, max_length=200)


class Preferences(BaseModel):
    """What a resident chose; editable over the API with the resident's token."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={  # the webhook channel needs its webhook (checked by the API)
            "if": {"properties": {"channels": {"contains": {"const": "webhook"}}}},
            "then": {"required": ["webhook"], "properties": {"webhook": {"type": "object"}}},
        },
    )

    channels: tuple[Channel, ...] = Field(
        ("inbox",),
        min_length=1,
        description="Channels in order of preference (failover order), each at most once.",
        json_schema_extra={"uniqueItems": True},
    )
    language: Language = "zh-CN"
    quiet_hours: QuietHours | None = None
    opt_outs: tuple[str, ...] = Field(
        (), description="Message kinds not wanted (e.g. issue.progressed, receipt.issued)."
    )
    webhook: Webhook | None = None

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each channel at most once")
        return value


class Contact(BaseModel):
    """Where a resident can be reached (from intake's contacts topic and the resident's edits)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    phone: str | None = None
    email: str | None = None
    webhook: Webhook | None = None


def reachable(channel: str, contact: Contact, *, email_on: bool, sms_on: bool) -> bool:
    if channel == "inbox":
        return True
    if channel == "email":
        return email_on and bool(contact.email)
    if channel == "sms":
        return sms_on and bool(contact.phone)
    if channel == "webhook":
        return contact.webhook is not None
    return False


def channel_plan(
    prefs: Preferences, contact: Contact, *, email_on: bool = True, sms_on: bool = True
) -> tuple[str, ...]:
    """The channels to try in order: the resident's reachable preferences, the inbox last as
    the fallback that always works (it is never skipped)."""
    plan = [c for c in prefs.channels if reachable(c, contact, email_on=email_on, sms_on=sms_on)]
    if "inbox" not in plan:
        plan.append("inbox")
    return tuple(plan)


def wanted(prefs: Preferences, kind: str, *, urgent: bool) -> bool:
    """Opt-outs hold except for urgent broadcasts."""
    return urgent or kind not in prefs.opt_outs


def not_before(prefs: Preferences, channel: str, at: datetime, *, urgent: bool) -> datetime:
    """When a channel may disturb the resident: quiet hours defer external channels (the
    message is in the inbox meanwhile)."""
    if urgent or channel == "inbox" or prefs.quiet_hours is None:
        return at
    return prefs.quiet_hours.ends_after(at)


def retry_delay(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential back-off with full jitter before attempt ``attempt`` (2, 3, ...)."""
    ceiling = min(max_s, base_s * 2 ** max(0, attempt - 2))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def delivery_id(source_event: str, ref: str, channel: str) -> str:
    return f"{source_event}:{ref}:{channel}"


# --- signed rating links ----------------------------------------------------------------


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
    """A rating link that is forged, malformed or expired."""


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
        raise BadRatingToken("the link has expired")
    return issue_id, ref, int(visit)


# --- webhook signatures (DingTalk/WeCom robot style) --------------------------------------


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


# --- operator keys ------------------------------------------------------------------------


def new_operator_key(key_id: str, secret: str) -> str:
    return f"opk_{key_id}.{secret}"


def hash_operator_secret(secret: str) -> str:
    return hashlib.sha256(f"linli-operator:{secret}".encode()).hexdigest()


def split_operator_key(key: str) -> tuple[str, str] | None:
    """(key id, secret) of ``opk_<id>.<secret>``, None for anything else."""
    if not key.startswith("opk_") or "." not in key:
        return None
    key_id, _, secret = key[4:].partition(".")
    return (key_id, secret) if key_id and secret else None


# --- followers of an issue ----------------------------------------------------------------

# the reporter's own messages: the receipt of the report and the rating request (回访)
NOT_FOR_FOLLOWERS = frozenset({"issue.received", "issue.return-visit"})


def follower_recipients(kind: str, followers: Iterable[str], reporter: str | None) -> list[str]:
    """Who besides the reporter hears of a status change of an issue: every follower once,
    in the order they followed, never the reporter again, nobody for the reporter's own
    messages."""
    if kind in NOT_FOR_FOLLOWERS:
        return []
    return [ref for ref in dict.fromkeys(followers) if ref and ref != reporter]
