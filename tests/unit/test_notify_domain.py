"""Notify's pure rules: quiet hours, channel plans, opt-outs, back-off, rating links,
webhook signatures, operator keys; and every template in every language."""

import random
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from services.notify.broadcasts import step_counts
from services.notify.channels import ChannelThrottle, message_id, parse_rates
from services.notify.domain import (
    LANGUAGES,
    BadRatingToken,
    Contact,
    Preferences,
    QuietHours,
    Webhook,
    body_signature,
    channel_plan,
    hash_operator_secret,
    new_operator_key,
    not_before,
    open_rating_token,
    rating_token,
    retry_delay,
    robot_sign,
    signature_fresh,
    split_operator_key,
    wanted,
)
from services.notify.messages import transition_kind
from services.notify.notices import Notice
from services.notify.rendering import Templates
from shared.events.consult import NoticeKind
from shared.events.lifecycle import TRANSITIONS

pytestmark = pytest.mark.unit

# 23:30 and 12:00 in Beijing
NIGHT = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
NOON = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
QUIET = QuietHours(start="22:00", end="07:00")


def test_quiet_hours_cross_midnight_and_end_the_next_morning():
    assert QUIET.contains(NIGHT) and not QUIET.contains(NOON)
    end = QUIET.ends_after(NIGHT)
    assert end.isoformat() == "2026-03-02T07:00:00+08:00"
    assert QUIET.ends_after(NOON) == NOON
    day = QuietHours(start="12:00", end="14:00")
    assert day.contains(NOON) and not day.contains(NIGHT)
    with pytest.raises(ValueError):
        QuietHours(start="25:00", end="07:00")


def test_quiet_hours_defer_external_channels_unless_urgent():
    prefs = Preferences(channels=("sms", "inbox"), quiet_hours=QUIET)
    assert not_before(prefs, "sms", NIGHT, urgent=False) > NIGHT
    assert not_before(prefs, "sms", NIGHT, urgent=True) == NIGHT
    assert not_before(prefs, "inbox", NIGHT, urgent=False) == NIGHT
    assert not_before(prefs, "sms", NOON, urgent=False) == NOON


def test_the_plan_keeps_the_preference_order_of_reachable_channels_and_ends_with_the_inbox():
    hook = Webhook(url="http://127.0.0.1:1/robot", secret="s3cret-robot")
    prefs = Preferences(channels=("webhook", "sms", "email"), webhook=hook)
    contact = Contact(phone="138", email="a@b.cn", webhook=hook)
    assert channel_plan(prefs, contact) == ("webhook", "sms", "email", "inbox")
    assert channel_plan(prefs, Contact(email="a@b.cn")) == ("email", "inbox")
    assert channel_plan(prefs, contact, sms_on=False, email_on=False) == ("webhook", "inbox")
    inbox_first = Preferences(channels=("inbox", "email"))
    assert channel_plan(inbox_first, contact) == ("inbox", "email")
    with pytest.raises(ValueError):
        Preferences(channels=("sms", "sms"))


def test_opt_outs_hold_except_for_urgent_broadcasts():
    prefs = Preferences(opt_outs=("issue.progressed", "broadcast"))
    assert not wanted(prefs, "issue.progressed", urgent=False)
    assert wanted(prefs, "issue.resolved", urgent=False)
    assert wanted(prefs, "broadcast", urgent=True)


def test_retry_delays_grow_exponentially_with_jitter_and_a_ceiling():
    rng = random.Random(7)
    delays = [retry_delay(n, base_s=2, max_s=60, rng=rng) for n in range(2, 10)]
    for attempt, delay in zip(range(2, 10), delays, strict=True):
        ceiling = min(60, 2 * 2 ** (attempt - 2))
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] <= 60 and len(set(delays)) == len(delays)


def test_rating_tokens_are_signed_and_expire():
    now = NOON
    token = rating_token(
        "k",
        issue_id="iss_0123456789",
        ref="res_abcdefghijklmnop",
        visit=7,
        expires=now + timedelta(hours=1),
    )
    assert open_rating_token("k", token, now) == ("iss_0123456789", "res_abcdefghijklmnop", 7)
    with pytest.raises(BadRatingToken, match="expired"):
        open_rating_token("k", token, now + timedelta(hours=2))
    with pytest.raises(BadRatingToken, match="signature"):
        open_rating_token("other", token, now)
    forged = token.replace(".7.", ".8.")
    with pytest.raises(BadRatingToken):
        open_rating_token("k", forged, now)
    with pytest.raises(BadRatingToken):
        open_rating_token("k", "garbage", now)


def test_webhook_signatures_match_the_robot_scheme():
    # DingTalk's documented construction, recomputed independently
    import base64
    import hashlib
    import hmac

    expected = base64.b64encode(
        hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()
    ).decode()
    assert robot_sign("SECabc", 1700000000000) == expected
    assert body_signature("k", 1, b"x") != body_signature("k", 1, b"y")
    now = datetime.fromtimestamp(1700000000, UTC)
    assert signature_fresh(1700000000000, now)
    assert not signature_fresh(1700000000000 - 7200_000, now)


def test_operator_keys_split_and_hash():
    key = new_operator_key("abc123", "s3cr3t")
    assert split_operator_key(key) == ("abc123", "s3cr3t")
    assert split_operator_key("nope") is None and split_operator_key("opk_.x") is None
    assert hash_operator_secret("a") != hash_operator_secret("b")
    assert "s3cr3t" not in hash_operator_secret("s3cr3t")


def test_rates_parse_and_the_limiter_spaces_sends():
    assert parse_rates("email=20, sms=0.5") == {"email": 20.0, "sms": 0.5}
    assert parse_rates("") == {}
    assert ChannelThrottle(0)._interval == 0


async def test_the_rate_limiter_waits_for_the_next_slot():
    import time

    limiter = ChannelThrottle(50)
    started = time.monotonic()
    for _ in range(6):
        await limiter.acquire()
    assert time.monotonic() - started >= 5 / 50 * 0.9


FULL_CONTEXT = {
    "issue_id": "iss_0123456789",
    "owner_name": "城管",
    "departments": "城管、供水",
    "actor_name": "供水公司",
    "reason": "原因",
    "public_note": "已派人",
    "resolve_due": "2026-03-02 12:00",
    "rating_url": "http://127.0.0.1:18383/api/v1/ratings/TOKEN",
    "rating_expires": "2026-03-09 12:00",
    "receipt_no": "R-2026-000001",
    "campaign": "winter-warmth",
    "amount": "500.00",
    "title": "暴雨预警",
    "body": "请勿外出",
    "urgent": True,
    "subject_id": "poll_naming",
    "place": "Jiading Courtyard",
    "closes_at": "2026-03-09 12:00",
    "summary": "passed",
}
EXPECTED_KINDS = {
    "issue.received",
    "issue.assigned",
    "receipt.issued",
    "broadcast",
    *(transition_kind(t.event_type) for t in TRANSITIONS),
    *(f"consult.{kind}" for kind in get_args(NoticeKind)),
}


def test_every_kind_has_a_template_in_every_language():
    assert Templates().kinds() == EXPECTED_KINDS


@pytest.mark.parametrize("kind", sorted(EXPECTED_KINDS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_renders_in_its_language(kind, language):
    message = Templates().render(kind, language, FULL_CONTEXT)
    assert message.title and message.body and "{" not in message.title + message.body
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in message.title)
    assert chinese == (language == "zh-CN") or kind == "broadcast"
    if kind.startswith("issue."):
        assert "iss_0123456789" in message.body
    if kind == "issue.return-visit":
        assert FULL_CONTEXT["rating_url"] in message.body
    if kind == "receipt.issued":
        assert "R-2026-000001" in message.body and "500.00" in message.body


def test_optional_fields_may_be_empty_but_required_ones_may_not_be_missing():
    sparse = {**FULL_CONTEXT, "reason": None, "public_note": None}
    assert "：" not in Templates().render("issue.progressed", "zh-CN", sparse).body
    with pytest.raises(Exception, match="is undefined"):
        Templates().render("issue.return-visit", "en", {"issue_id": "iss_0123456789"})


# --- a broadcast's language, its progress counts, an email's Message-ID -------------------


def test_a_notice_is_read_in_the_residents_language_only_when_its_text_exists_in_it():
    chinese_only = Notice("bc_1", "broadcast", "r", lambda _: {}, languages=("zh-CN",))
    both = Notice("bc_2", "broadcast", "r", lambda _: {}, languages=("zh-CN", "en"))
    templated = Notice("ev_1", "issue.closed", "r", lambda _: {})
    assert chinese_only.language_for("en") == "zh-CN"
    assert both.language_for("en") == "en" and both.language_for("zh-CN") == "zh-CN"
    assert templated.language_for("en") == "en"  # templates exist in every language


def test_step_counts_say_sent_queued_or_failed_per_channel():
    assert step_counts([("webhook", "retrying")]) == {"queued.webhook": 1}
    assert step_counts([("webhook", "deferred"), ("inbox", "sent")]) == {
        "queued.webhook": 1,
        "sent.inbox": 1,
    }
    assert step_counts([("sms", "failed"), ("inbox", "duplicate")]) == {
        "failed.sms": 1,
        "sent.inbox": 1,
    }


def test_an_emails_message_id_is_the_same_for_every_attempt_of_a_delivery():
    first = message_id("ev_1:res_1:email", "linli@district.example")
    assert first == message_id("ev_1:res_1:email", "linli@district.example")
    assert first != message_id("ev_2:res_1:email", "linli@district.example")
    assert first.startswith("<") and first.endswith("@district.example>")
