"""Notify's rules, without I/O: residents' preferences, quiet hours, which channels a message
goes to and in which order, retry delays, signed rating links, webhook signatures, operator
keys, who follows an issue; its names (statuses, channels) and its refusals."""

from services.notify.domain.delivery import delivery_id, retry_delay
from services.notify.domain.followers import NOT_FOR_FOLLOWERS, follower_recipients
from services.notify.domain.names import (
    CHANNELS,
    EXTERNAL,
    LANGUAGES,
    BroadcastStatus,
    Channel,
    DeliveryOutcome,
    DeliveryStatus,
    Language,
)
from services.notify.domain.operators import (
    hash_operator_secret,
    new_operator_key,
    split_operator_key,
)
from services.notify.domain.preferences import (
    LOCAL_TZ,
    Contact,
    Preferences,
    QuietHours,
    Webhook,
    channel_plan,
    not_before,
    reachable,
    wanted,
)
from services.notify.domain.ratings import BadRatingToken, open_rating_token, rating_token
from services.notify.domain.signatures import body_signature, robot_sign, signature_fresh

__all__ = [
    "CHANNELS",
    "EXTERNAL",
    "LANGUAGES",
    "LOCAL_TZ",
    "NOT_FOR_FOLLOWERS",
    "BadRatingToken",
    "BroadcastStatus",
    "Channel",
    "Contact",
    "DeliveryOutcome",
    "DeliveryStatus",
    "Language",
    "Preferences",
    "QuietHours",
    "Webhook",
    "body_signature",
    "channel_plan",
    "delivery_id",
    "follower_recipients",
    "hash_operator_secret",
    "new_operator_key",
    "not_before",
    "open_rating_token",
    "rating_token",
    "reachable",
    "retry_delay",
    "robot_sign",
    "signature_fresh",
    "split_operator_key",
    "wanted",
]
