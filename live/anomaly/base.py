"""What every detector shares: the thresholds (settings ``anomaly.*``), a finding (one alert
to journal) and the detector protocol, plus the stable alert codes the playbooks map to
actions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol

from live.events import Message, Severity
from strategies.errors import BadInputError

ORDER_STUCK = "order_stuck"
DUPLICATE_SIGNAL = "duplicate_signal"
ORDER_RATE_RUNAWAY = "order_rate_runaway"
SIGNAL_FLIP_FLOP = "signal_flip_flop"
LATENCY_BAR_TO_INTENT = "latency_bar_to_intent"
LATENCY_SUBMIT_TO_ACK = "latency_submit_to_ack"
PNL_UNEXPLAINED = "pnl_unexplained"
FILL_UNKNOWN_ORDER = "fill_unknown_order"
FILL_OVER_INTENT = "fill_over_intent"
FILL_SIDE_MISMATCH = "fill_side_mismatch"
FILL_OUTSIDE_LIMIT = "fill_outside_limit"

#: code -> (severity, meaning): the contract with the playbooks (README, Anomaly detectors)
ALERT_CODES: Mapping[str, tuple[Severity, str]] = {
    ORDER_STUCK: (Severity.WARNING, "an order worked longer than anomaly.stuck_order_seconds"),
    DUPLICATE_SIGNAL: (Severity.ERROR, "one strategy/symbol/entry side/bar signalled on two "
                                        "traces"),
    ORDER_RATE_RUNAWAY: (Severity.CRITICAL, "a strategy intended more orders in a window "
                                            "than anomaly.max_orders_per_window"),
    SIGNAL_FLIP_FLOP: (Severity.WARNING, "a strategy's entry direction changed more often "
                                         "in a window than anomaly.max_direction_changes"),
    LATENCY_BAR_TO_INTENT: (Severity.WARNING, "bar journaled -> order intended beyond its "
                                              "budget or robust z-score"),
    LATENCY_SUBMIT_TO_ACK: (Severity.WARNING, "order intended -> broker confirmed beyond its "
                                              "budget or robust z-score"),
    PNL_UNEXPLAINED: (Severity.CRITICAL, "the state's marked P&L moved by more than its "
                                         "positions x price changes explain"),
    FILL_UNKNOWN_ORDER: (Severity.CRITICAL, "a fill for a client key never intended"),
    FILL_OVER_INTENT: (Severity.CRITICAL, "fills of an order add up to more than it asked"),
    FILL_SIDE_MISMATCH: (Severity.CRITICAL, "a fill on the other side from its order"),
    FILL_OUTSIDE_LIMIT: (Severity.ERROR, "a limit order filled through its limit price"),
}


class AnomalyConfigError(BadInputError, ValueError):
    """An ``anomaly.*`` threshold out of its range (the field and the value named)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AnomalyThresholds:
    """The detectors' thresholds (settings ``anomaly.*``; README, Configuration)."""

    stuck_order_seconds: float = 300.0
    order_rate_window_seconds: float = 60.0
    max_orders_per_window: int = 40
    flip_window_seconds: float = 1800.0
    max_direction_changes: int = 4
    bar_to_intent_budget_ms: float = 2000.0
    submit_to_ack_budget_ms: float = 3000.0
    latency_z_max: float = 6.0
    latency_min_samples: int = 30
    latency_window: int = 200
    latency_floor_ms: float = 250.0
    pnl_tolerance_inr: float = 1.0
    pnl_tolerance_bps: float = 1.0
    fill_limit_tolerance_points: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            floor_ok = value >= 0 if f.name in _MAY_BE_ZERO else value > 0
            if isinstance(value, bool) or not floor_ok:
                bound = ">= 0" if f.name in _MAY_BE_ZERO else "> 0"
                raise AnomalyConfigError(f"anomaly.{f.name}={value!r}: must be {bound}")
        if self.latency_min_samples > self.latency_window:
            raise AnomalyConfigError(
                f"anomaly.latency_min_samples={self.latency_min_samples!r} is more than "
                f"anomaly.latency_window={self.latency_window!r}: the z-score would never run")


_MAY_BE_ZERO = frozenset({"pnl_tolerance_inr", "pnl_tolerance_bps",
                          "fill_limit_tolerance_points"})


@dataclass(frozen=True, slots=True)
class Finding:
    """One anomaly: journaled as an ``AlertRaised`` at ``ts`` under ``trace_id``."""

    ts: datetime
    code: str
    message: str
    trace_id: str = ""

    @property
    def severity(self) -> Severity:
        return ALERT_CODES[self.code][0]


class Detector(Protocol):
    """One condition. ``observe`` sees every journaled message in journal order (``wall``:
    the runner's clock when it was journaled); ``tick`` is called between bars with the
    market time now (time-based conditions)."""

    def observe(self, message: Message, wall: datetime) -> list[Finding]: ...

    def tick(self, ts: datetime) -> list[Finding]: ...
