"""Settings of the live anomaly detectors (``anomaly.*``; README, Anomaly detectors)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from live.anomaly.base import AnomalyThresholds


class AnomalySettings(BaseModel):
    """Thresholds of the detectors the runner runs on every journaled event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stuck_order_seconds: float = Field(
        300.0, gt=0, le=86_400, description="an order working longer (market time) is stuck "
                                           "(protective stops / targets rest: never stuck)")
    order_rate_window_seconds: float = Field(60.0, gt=0, le=86_400,
                                             description="the runaway order-rate window")
    max_orders_per_window: int = Field(40, ge=1, le=100_000,
                                       description="intents per strategy in that window")
    flip_window_seconds: float = Field(1800.0, gt=0, le=86_400,
                                       description="the flip-flop window")
    max_direction_changes: int = Field(
        4, ge=1, le=10_000, description="entry direction changes per strategy/symbol in it")
    bar_to_intent_budget_ms: float = Field(2000.0, gt=0, description="bar -> intent budget")
    submit_to_ack_budget_ms: float = Field(3000.0, gt=0,
                                           description="intent -> broker confirmation budget")
    latency_z_max: float = Field(6.0, gt=0, description="robust z-score beyond which a "
                                                        "latency is a spike")
    latency_min_samples: int = Field(30, ge=2, description="samples before the z-score runs")
    latency_window: int = Field(200, ge=2, le=100_000, description="recent samples kept")
    latency_floor_ms: float = Field(250.0, gt=0, description="no z-score spike below this")
    pnl_tolerance_inr: float = Field(1.0, ge=0, description="unexplained P&L allowed per bar")
    pnl_tolerance_bps: float = Field(1.0, ge=0, le=10_000,
                                     description="plus this share of the notional involved")
    fill_limit_tolerance_points: float = Field(
        0.0, ge=0, description="price points a limit order may fill through its limit")

    @model_validator(mode="after")
    def _window_holds_min_samples(self) -> AnomalySettings:
        if self.latency_min_samples > self.latency_window:
            raise ValueError(f"anomaly.latency_min_samples={self.latency_min_samples} is more "
                             f"than anomaly.latency_window={self.latency_window}: the z-score "
                             "would never run")
        return self

    def thresholds(self) -> AnomalyThresholds:
        """The live detectors' thresholds."""
        return AnomalyThresholds(**self.model_dump())
