"""Settings of metrics, traces and the dead-man's watchdog (``observability.*``; README,
Observability)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_METRICS_PORT = 9464  # the Prometheus exporter port registered for OpenTelemetry


class MetricsSettings(BaseModel):
    """The Prometheus endpoint of each long-running process (``live run``, ``live serve``,
    ``svc execution``). On by default: a desk that cannot see a runner cannot tell a quiet
    one from a dead one; port 0 turns it off (a one-off replay on a laptop)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="address the /metrics endpoint binds to "
                                               "(loopback: scrape it from this host or "
                                               "through a reverse proxy)")
    port: int = Field(DEFAULT_METRICS_PORT, ge=0, le=65535,
                      description="TCP port of /metrics; 0 = no endpoint")
    risk_refresh_seconds: float = Field(
        10.0, ge=0.5, le=3600, description="least seconds between refreshes of the risk "
                                           "report's utilisation rows (VaR, margin)")

    @field_validator("host")
    @classmethod
    def _an_address(cls, host: str) -> str:
        if host != "localhost":
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"{host!r}: an IP address (127.0.0.1, ::1, 0.0.0.0) or "
                                 "localhost") from None
        return host

    @property
    def enabled(self) -> bool:
        return self.port != 0


class TracingSettings(BaseModel):
    """OpenTelemetry spans of each journaled trade step (signal -> risk -> order -> fill ->
    exit); off by default (spans leave the host only when asked)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exporter: Literal["off", "console", "otlp"] = Field(
        "off", description="off | console (stderr) | otlp (OTLP over HTTP)")
    endpoint: str = Field("http://127.0.0.1:4318/v1/traces",
                          description="the OTLP/HTTP traces endpoint (exporter otlp)")
    service_name: str = Field("stratops-runner", min_length=1, max_length=100)

    @field_validator("endpoint")
    @classmethod
    def _http(cls, endpoint: str) -> str:
        if not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"{endpoint!r}: an http(s):// URL of an OTLP/HTTP collector")
        return endpoint


class WatchdogSettings(BaseModel):
    """``stratops watchdog``: the dead-man's switch outside the runner's process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(None, description="the /metrics URL watched (default: "
                                              "observability.metrics host and port)")
    budget_seconds: float = Field(10.0, gt=0, le=3600,
                                  description="a heartbeat older than this pages")
    interval_seconds: float = Field(1.0, gt=0, le=600, description="seconds between checks")
    timeout_seconds: float = Field(2.0, gt=0, le=60,
                                   description="HTTP timeout of one scrape (a hung runner "
                                               "answers none)")
    page_file: str = Field(".stratops/pages.jsonl",
                           description="JSON lines the default pager appends to")

    @model_validator(mode="after")
    def _timeout_within_budget(self) -> WatchdogSettings:
        if self.timeout_seconds + self.interval_seconds > self.budget_seconds:
            raise ValueError(f"timeout_seconds {self.timeout_seconds} + interval_seconds "
                             f"{self.interval_seconds} exceed budget_seconds "
                             f"{self.budget_seconds}: a hang would page late")
        return self


class ObservabilitySettings(BaseModel):
    """Metrics, traces and the watchdog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    watchdog: WatchdogSettings = Field(default_factory=WatchdogSettings)
