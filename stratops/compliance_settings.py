"""Settings of surveillance and the compliance report (``compliance.*``) and of retention
(``retention.*``; README, Compliance surveillance and retention)."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from live.compliance.thresholds import (
    AbnormalThresholds,
    LayeringThresholds,
    MarkingCloseThresholds,
    SurveillanceThresholds,
    ThresholdError,
    WashThresholds,
)

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class LayeringSettings(BaseModel):
    model_config = _FROZEN

    window_s: float = Field(120.0, gt=0, le=3_600, description="seconds around our fill")
    min_away_bps: float = Field(5.0, gt=0, description="limit this far from the touch")
    min_orders: int = Field(2, ge=1, description="cancelled far-side orders to flag")
    min_qty_ratio: float = Field(2.0, gt=0, description="their qty / the fill's qty")
    critical_orders: int = Field(5, ge=1, description="orders that make it critical")


class WashSettings(BaseModel):
    model_config = _FROZEN

    window_s: float = Field(60.0, gt=0, le=86_400, description="seconds between the fills")
    price_tolerance_bps: float = Field(2.0, gt=0, description="price difference allowed")
    min_qty: int = Field(1, ge=1, description="smallest matched quantity flagged")


class MarkingCloseSettings(BaseModel):
    model_config = _FROZEN

    window_minutes: int = Field(15, ge=1, le=120, description="minutes before the close")
    close: time = Field(time(15, 30), description="the session's close, exchange time")
    min_share: float = Field(0.5, gt=0, le=1, description="share of the day's filled qty")
    min_participation: float = Field(0.05, gt=0, le=1, description="share of bar volume")
    min_move_bps: float = Field(10.0, gt=0, description="price move toward our position")


class AbnormalSettings(BaseModel):
    model_config = _FROZEN

    history_days: int = Field(60, ge=2, le=1_000, description="previous days compared")
    min_history_days: int = Field(10, ge=2, description="fewer days: no verdict")
    z_warning: float = Field(5.0, gt=0, description="robust z of a warning")
    z_critical: float = Field(8.0, gt=0, description="robust z of a critical finding")
    min_scale_inr: float = Field(1_000.0, gt=0, description="floor of the P&L scale")
    min_scale_qty: float = Field(1.0, gt=0, description="floor of the position scale")


class ComplianceSettings(BaseModel):
    """The abuse detectors (online on the runner and in the daily batch) and the report."""

    model_config = _FROZEN

    online: bool = Field(True, description="run the detectors on the runner's path")
    tz: str = Field("Asia/Kolkata", description="exchange time zone days are cut in")
    report_dir: Path = Field(Path("reports/compliance"),
                             description="`compliance report` writes <mode>/<day>/ here")
    layering: LayeringSettings = Field(default_factory=LayeringSettings)
    wash: WashSettings = Field(default_factory=WashSettings)
    marking_close: MarkingCloseSettings = Field(default_factory=MarkingCloseSettings)
    abnormal: AbnormalSettings = Field(default_factory=AbnormalSettings)

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"compliance.tz={tz!r}: not an IANA time zone (e.g. "
                             "Asia/Kolkata)") from None
        return tz

    @model_validator(mode="after")
    def _consistent(self) -> ComplianceSettings:
        self.thresholds()  # cross-field rules (critical >= warning, ...) named on failure
        return self

    def thresholds(self) -> SurveillanceThresholds:
        """The detectors' typed thresholds."""
        try:
            return SurveillanceThresholds(
                tz=self.tz, layering=LayeringThresholds(**self.layering.model_dump()),
                wash=WashThresholds(**self.wash.model_dump()),
                marking_close=MarkingCloseThresholds(**self.marking_close.model_dump()),
                abnormal=AbnormalThresholds(**self.abnormal.model_dump()))
        except ThresholdError as exc:
            raise ValueError(str(exc)) from None


class RetentionSettings(BaseModel):
    """How long the journal, the audit trail and the reports are kept, and where the
    read-only archive goes before anything may be deleted."""

    model_config = _FROZEN

    years: int = Field(5, ge=1, le=50, description="kept at least this many years")
    archive_dir: Path = Field(Path("archive"), description="the Parquet archive's root")
