"""Settings of the operator web page (``stratops ops serve``; README, Operator web page)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OpsSettings(BaseModel):
    """Where the page listens, which journal it follows, and how long a login lasts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", min_length=1,
                      description="bind address: loopback by default (put TLS in front to share)")
    port: int = Field(8765, ge=1, le=65535, description="the page's TCP port")
    mode: Literal["shadow", "canary", "live"] = Field(
        "live", description="whose journal the page follows (live.journal_url's {mode})")
    poll_ms: int = Field(200, ge=20, le=5000,
                         description="how often the page's server reads new journal entries")
    challenge_ttl_seconds: int = Field(120, ge=10, le=900,
                                       description="a login challenge must be used within this")
    session_ttl_seconds: int = Field(900, ge=60, le=28800,
                                     description="a signed-in session lasts at most this long")
    recent_rows: int = Field(200, ge=10, le=10000,
                             description="fills and alerts kept on the page")
    secure_cookie: bool = Field(
        False, description="mark the session cookie Secure (set it when a TLS proxy fronts "
                           "the page; browsers then send it over HTTPS only)")
