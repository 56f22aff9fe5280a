"""Settings of alert delivery (``alerts.*``; README, Alert delivery).

Secrets never sit here: a webhook names the environment variable (``secret_env``) or the
owner-only file (``secret_file``) its HMAC key is read from, an SMTP login the variable of
its password."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME = r"^[a-z][a-z0-9_]{0,31}$"
_ENV = r"^[A-Z_][A-Z0-9_]{0,63}$"


class WebhookSettings(BaseModel):
    """One webhook: JSON POSTed with an HMAC-SHA256 ``X-Stratops-Signature`` header."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME)
    url: str = Field(pattern=r"^https?://", description="the receiver (http or https)")
    secret_env: str | None = Field(None, pattern=_ENV,
                                   description="environment variable holding the HMAC key")
    secret_file: Path | None = Field(None, description="owner-only (0600) file holding it")
    timeout_seconds: float = Field(3.0, gt=0, le=30)

    @model_validator(mode="after")
    def _one_secret_source(self) -> WebhookSettings:
        if (self.secret_env is None) == (self.secret_file is None):
            raise ValueError(f"webhook {self.name}: set exactly one of secret_env and "
                             "secret_file (the HMAC key is never written in the settings)")
        return self


class EmailSettings(BaseModel):
    """One SMTP route: plain-text alerts to ``to`` (STARTTLS and a login optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME)
    host: str = Field(min_length=1)
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: tuple[str, ...] = Field(min_length=1)
    starttls: bool = False
    username: str | None = None
    password_env: str | None = Field(None, pattern=_ENV,
                                     description="environment variable holding the password")
    timeout_seconds: float = Field(5.0, gt=0, le=60)


class AlertSettings(BaseModel):
    """Where alerts go, how they are grouped and escalated, and the retry queue's file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="deliver the runner's alerts while it runs")
    db_path: Path = Field(Path(".stratops/alerts.db"),
                          description="the durable delivery queue (SQLite)")
    min_severity: Literal["info", "warning", "error", "critical"] = "warning"
    webhooks: tuple[WebhookSettings, ...] = ()
    emails: tuple[EmailSettings, ...] = ()
    tiers: tuple[tuple[str, ...], ...] = Field(
        (), description="channel names paged in turn: tier 0 first, the next when nobody "
                        "acknowledges within escalate_after_minutes")
    dedup_window_seconds: float = Field(300.0, gt=0, le=86400)
    coalesce_seconds: float = Field(0.5, ge=0, le=4,
                                    description="a burst of one code is sent as one alert")
    escalate_after_minutes: float = Field(15.0, gt=0, le=1440)
    retry_initial_seconds: float = Field(1.0, gt=0, le=600)
    retry_max_seconds: float = Field(300.0, gt=0, le=86400)
    poll_seconds: float = Field(0.2, gt=0, le=2)

    @model_validator(mode="after")
    def _tiers_name_channels(self) -> AlertSettings:
        names = [h.name for h in self.webhooks] + [m.name for m in self.emails]
        if len(set(names)) != len(names):
            raise ValueError(f"alerts channel names must be unique, got {names}")
        for i, tier in enumerate(self.tiers):
            unknown = sorted(set(tier) - set(names))
            if not tier or unknown:
                raise ValueError(f"alerts.tiers[{i}]={list(tier)}: names no channel "
                                 f"{unknown or '(empty)'}; channels: {names}")
        if self.enabled and not self.tiers:
            raise ValueError("alerts.enabled=true with no alerts.tiers: nothing would be "
                             "delivered")
        return self
