"""What alert delivery needs, resolved: channels with their secrets (read by the app layer
from environment variables or secret files, never from YAML) and the delivery policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from live.events import Severity
from strategies.errors import BadInputError


class AlertConfigError(BadInputError, ValueError):
    """An alert-delivery setting that cannot work (a tier naming no channel, a missing
    secret): the setting and value named."""


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    """POST the alert as JSON to ``url``; ``X-Stratops-Signature: sha256=<hex>`` is the
    HMAC-SHA256 of the body under ``secret``."""

    name: str
    url: str
    secret: bytes = field(repr=False)
    timeout_s: float = 3.0


@dataclass(frozen=True, slots=True)
class EmailChannel:
    """Send the alert as a plain-text e-mail through an SMTP server (STARTTLS optional)."""

    name: str
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 5.0


Channel = WebhookChannel | EmailChannel


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """Channels by name, the tiers paged in turn (tier 0 first), and the policy."""

    db_path: Path
    channels: dict[str, Channel]
    tiers: tuple[tuple[str, ...], ...]
    min_severity: Severity = Severity.WARNING
    dedup_window_s: float = 300.0
    coalesce_s: float = 0.5
    escalate_after_s: float = 900.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 300.0
    poll_s: float = 0.2
    claim_s: float = 30.0  # a sending worker's claim on a delivery (crash: retried after)

    def __post_init__(self) -> None:
        if not self.tiers:
            raise AlertConfigError("alerts.tiers is empty: at least one tier of channels "
                                   "is needed to deliver anything")
        for i, tier in enumerate(self.tiers):
            if not tier:
                raise AlertConfigError(f"alerts.tiers[{i}] is empty")
            for name in tier:
                if name not in self.channels:
                    raise AlertConfigError(f"alerts.tiers[{i}] names channel {name!r}, not "
                                           f"one of {sorted(self.channels)}")
        for label, value in (("dedup_window_seconds", self.dedup_window_s),
                             ("escalate_after_minutes", self.escalate_after_s),
                             ("retry_initial_seconds", self.retry_initial_s),
                             ("retry_max_seconds", self.retry_max_s),
                             ("poll_seconds", self.poll_s)):
            if not value > 0:
                raise AlertConfigError(f"alerts.{label}={value!r}: must be positive")

    def tier(self, index: int) -> tuple[str, ...]:
        """The channels of tier ``index`` (the last tier for one past it)."""
        return self.tiers[min(index, len(self.tiers) - 1)]
