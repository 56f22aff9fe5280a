"""The senders: an alert payload to a webhook (HMAC-signed JSON) or an e-mail (SMTP).

A sender raises :class:`DeliveryError` when the receiver did not take the alert (refused,
unreachable, timed out); the worker then retries it later."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

from live.alerts.config import Channel, EmailChannel, WebhookChannel
from strategies.errors import StratopsError

SIGNATURE_HEADER = "X-Stratops-Signature"
DELIVERY_HEADER = "X-Stratops-Delivery"


class DeliveryError(StratopsError, ConnectionError):
    """A channel did not take an alert (the channel and the cause named); retried later."""


def body_of(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed (canonical JSON)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def signature_of(secret: bytes, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the body (what a receiver recomputes)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def send(channel: Channel, payload: dict[str, Any], delivery_id: str) -> None:
    """Deliver ``payload`` over ``channel``; raises :class:`DeliveryError` if not taken."""
    if isinstance(channel, WebhookChannel):
        _post(channel, payload, delivery_id)
    else:
        _mail(channel, payload, delivery_id)


def _post(channel: WebhookChannel, payload: dict[str, Any], delivery_id: str) -> None:
    body = body_of(payload)
    request = urllib.request.Request(channel.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "stratops-alerts",
        SIGNATURE_HEADER: signature_of(channel.secret, body), DELIVERY_HEADER: delivery_id})
    try:
        with urllib.request.urlopen(request, timeout=channel.timeout_s) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook {channel.name}: HTTP {exc.code} from the receiver") \
            from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"webhook {channel.name}: {exc}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook {channel.name}: HTTP {status} from the receiver")


def subject_of(payload: dict[str, Any]) -> str:
    count = f" x{payload['count']}" if payload.get("count", 1) > 1 else ""
    escalated = " ESCALATED" if payload.get("tier", 0) else ""
    return (f"[stratops {payload['severity'].upper()}{escalated}] {payload['code']} "
            f"({payload['scope']}){count}")


def _mail(channel: EmailChannel, payload: dict[str, Any], delivery_id: str) -> None:
    message = EmailMessage()
    message["Subject"] = subject_of(payload)
    message["From"], message["To"] = channel.sender, ", ".join(channel.to)
    message["X-Stratops-Delivery"] = delivery_id
    message.set_content(f"{payload['message']}\n\n" + json.dumps(payload, indent=2,
                                                                 sort_keys=True, default=str))
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if channel.username is not None:
                smtp.login(channel.username, channel.password or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"email {channel.name}: {exc}") from None
