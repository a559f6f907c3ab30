"""Residents' preferences and contacts, quiet hours, and which channels a message goes to and
in which order."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.notify.domain.names import Channel, ChannelName, Language

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
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

    channels: tuple[ChannelName, ...] = Field(
        (Channel.INBOX,),
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
    def _unique(cls, value: tuple[str, ...]) -> tuple[Channel, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each channel at most once")
        return tuple(Channel(name) for name in value)


class Contact(BaseModel):
    """Where a resident can be reached (from intake's contacts topic and the resident's edits)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    phone: str | None = None
    email: str | None = None
    webhook: Webhook | None = None


def reachable(channel: str, contact: Contact, *, email_on: bool, sms_on: bool) -> bool:
    if channel == Channel.INBOX:
        return True
    if channel == Channel.EMAIL:
        return email_on and bool(contact.email)
    if channel == Channel.SMS:
        return sms_on and bool(contact.phone)
    if channel == Channel.WEBHOOK:
        return contact.webhook is not None
    return False


def channel_plan(
    prefs: Preferences, contact: Contact, *, email_on: bool = True, sms_on: bool = True
) -> tuple[str, ...]:
    """The channels to try in order: the resident's reachable preferences, the inbox last as
    the fallback that always works (it is never skipped)."""
    plan = [c for c in prefs.channels if reachable(c, contact, email_on=email_on, sms_on=sms_on)]
    if Channel.INBOX not in plan:
        plan.append(Channel.INBOX)
    return tuple(plan)


def wanted(prefs: Preferences, kind: str, *, urgent: bool) -> bool:
    """Opt-outs hold except for urgent broadcasts."""
    return urgent or kind not in prefs.opt_outs


def not_before(prefs: Preferences, channel: str, at: datetime, *, urgent: bool) -> datetime:
    """When a channel may disturb the resident: quiet hours defer external channels (the
    message is in the inbox meanwhile)."""
    if urgent or channel == Channel.INBOX or prefs.quiet_hours is None:
        return at
    return prefs.quiet_hours.ends_after(at)
