"""The channels behind one small interface (``Sender``): the inbox, email, chat-robot webhooks
and SMS."""

from services.notify.channels.email import EmailChannel, message_id
from services.notify.channels.inbox import InboxChannel, InboxWriter, inbox_document
from services.notify.channels.robots import SmsChannel, WebhookChannel
from services.notify.channels.sending import (
    AddressedMessage,
    ChannelThrottle,
    Sender,
    SendFailed,
    parse_rates,
)

__all__ = [
    "AddressedMessage",
    "ChannelThrottle",
    "EmailChannel",
    "InboxChannel",
    "InboxWriter",
    "SendFailed",
    "Sender",
    "SmsChannel",
    "WebhookChannel",
    "inbox_document",
    "message_id",
    "parse_rates",
]
