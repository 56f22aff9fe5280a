"""The abuse detectors' thresholds (``compliance.*`` settings build them): one frozen record
per detector, each validated on construction so a bad value is refused with its name."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from strategies.errors import BadInputError


class ThresholdError(BadInputError, ValueError):
    """A detector threshold out of its domain (the field and value are named)."""


def _positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ThresholdError(f"compliance.{owner}.{name}={value!r}: must be positive")


def _fraction(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not 0 < value <= 1:
            raise ThresholdError(f"compliance.{owner}.{name}={value!r}: must be in (0, 1]")


@dataclass(frozen=True, kw_only=True, slots=True)
class LayeringThresholds:
    """Orders on the far side of our own fill, placed and cancelled unfilled within
    ``window_s`` of it, resting at least ``min_away_bps`` from the touch (the last bar's
    close before each was placed): a finding when there are ``min_orders`` of them and their
    quantity is at least ``min_qty_ratio`` times the fill's."""

    window_s: float = 120.0
    min_away_bps: float = 5.0
    min_orders: int = 2
    min_qty_ratio: float = 2.0
    critical_orders: int = 5

    def __post_init__(self) -> None:
        _positive("layering", window_s=self.window_s, min_away_bps=self.min_away_bps,
                  min_orders=self.min_orders, min_qty_ratio=self.min_qty_ratio)
        if self.critical_orders < self.min_orders:
            raise ThresholdError(f"compliance.layering.critical_orders={self.critical_orders}"
                                 f": below min_orders={self.min_orders}")


@dataclass(frozen=True, kw_only=True, slots=True)
class WashThresholds:
    """A buy and a sell fill of ours in one symbol by different strategies (so no change of
    the desk's beneficial ownership) within ``window_s``, at prices within
    ``price_tolerance_bps`` of each other."""

    window_s: float = 60.0
    price_tolerance_bps: float = 2.0
    min_qty: int = 1

    def __post_init__(self) -> None:
        _positive("wash", window_s=self.window_s, price_tolerance_bps=self.price_tolerance_bps,
                  min_qty=self.min_qty)


@dataclass(frozen=True, kw_only=True, slots=True)
class MarkingCloseThresholds:
    """Fills in the last ``window_minutes`` before ``close`` (exchange time) that are
    ``min_share`` of the day's filled quantity and ``min_participation`` of the bars'
    volume, trading in the direction of the desk's position at the close while the price
    moved ``min_move_bps`` that way over the window."""

    window_minutes: int = 15
    close: time = time(15, 30)
    min_share: float = 0.5
    min_participation: float = 0.05
    min_move_bps: float = 10.0

    def __post_init__(self) -> None:
        _positive("marking_close", window_minutes=self.window_minutes,
                  min_move_bps=self.min_move_bps)
        _fraction("marking_close", min_share=self.min_share,
                  min_participation=self.min_participation)


@dataclass(frozen=True, kw_only=True, slots=True)
class AbnormalThresholds:
    """A day's realised P&L of a strategy, or its largest absolute position in a symbol,
    whose robust z-score (median and MAD of the ``min_history_days``..``history_days``
    previous trading days) reaches ``z_warning`` (``z_critical``: critical). The scale is at
    least ``min_scale_inr`` / ``min_scale_qty`` so a flat history does not flag noise."""

    history_days: int = 60
    min_history_days: int = 10
    z_warning: float = 5.0
    z_critical: float = 8.0
    min_scale_inr: float = 1_000.0
    min_scale_qty: float = 1.0

    def __post_init__(self) -> None:
        _positive("abnormal", history_days=self.history_days,
                  min_history_days=self.min_history_days, z_warning=self.z_warning,
                  min_scale_inr=self.min_scale_inr, min_scale_qty=self.min_scale_qty)
        if self.min_history_days > self.history_days:
            raise ThresholdError(f"compliance.abnormal.min_history_days="
                                 f"{self.min_history_days}: above history_days="
                                 f"{self.history_days}")
        if self.z_critical < self.z_warning:
            raise ThresholdError(f"compliance.abnormal.z_critical={self.z_critical}: below "
                                 f"z_warning={self.z_warning}")


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveillanceThresholds:
    """Every detector's thresholds and the exchange time zone days are cut in."""

    tz: str = "Asia/Kolkata"
    layering: LayeringThresholds = field(default_factory=LayeringThresholds)
    wash: WashThresholds = field(default_factory=WashThresholds)
    marking_close: MarkingCloseThresholds = field(default_factory=MarkingCloseThresholds)
    abnormal: AbnormalThresholds = field(default_factory=AbnormalThresholds)
