"""The email channel: SMTP (STARTTLS and AUTH when configured), one Message-ID a delivery."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from services.notify.channels.sending import AddressedMessage, SendFailed
from shared.events import utcnow


class EmailChannel:
    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        starttls: bool,
        username: str,
        password: str,
        sender: str,
        timeout_s: float,
        ca_file: str = "",
    ):
        self._host, self._port, self._starttls = host, port, starttls
        self._username, self._password = username or None, password or None
        self._sender, self._timeout_s = sender, timeout_s
        self._ca_file = ca_file or None

    async def send(self, outgoing: AddressedMessage) -> None:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = outgoing.contact.email or ""
        email["Subject"] = outgoing.message.title
        email["Date"] = format_datetime(utcnow())
        email["Message-ID"] = message_id(outgoing.delivery_id, self._sender)
        email["X-Linli-Delivery"] = outgoing.delivery_id
        email["Content-Language"] = outgoing.message.language
        email.set_content(outgoing.message.body)
        try:
            await aiosmtplib.send(
                email,
                hostname=self._host,
                port=self._port,
                start_tls=self._starttls,
                username=self._username,
                password=self._password,
                timeout=self._timeout_s,
                cert_bundle=self._ca_file,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise SendFailed("recipient refused", permanent=True) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SendFailed(f"smtp authentication failed ({exc.code})", permanent=False) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(f"smtp {exc.code}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendFailed(f"smtp unreachable: {type(exc).__name__}", permanent=False) from exc


def message_id(delivery_id: str, sender: str) -> str:
    """The same Message-ID for every attempt of one delivery, so a mail client can drop a
    second copy; in the sender's domain (RFC 5322)."""
    digest = hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "linli"
    return f"<{digest}@{domain}>"
