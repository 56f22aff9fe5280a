"""Settings of the live clock-offset check (``live.clock.*``; README, Clock checks)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ClockSettings(BaseModel):
    """How far our clock may drift from the exchange's and NTP's before entries hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_offset_ms: float = Field(
        2_000.0, gt=0, le=60_000,
        description="median |exchange tick time - wall time| or |NTP offset| beyond this: "
                    "new entries held, alert clock_offset (Kite stamps ticks to the second)")
    window_ticks: int = Field(31, ge=1, le=10_000,
                              description="ticks in the rolling median of the offset")
    ntp_every_seconds: float = Field(60.0, gt=0, le=3_600,
                                     description="chronyc/ntpq read this often")
