"""Strategy health: a version's closed trades against what research expected of it.

The expectation (:class:`HealthExpectation`) is computed from the version's walk-forward
out-of-sample trades and stored in its signed ``model_config`` (key ``health``): the number
of trades, the hit ratio, the mean net P&L per trade and its standard deviation, at the
research quantity (``qty`` units), and the slippage research charged per fill.

Live trades are tested against research's mean and hit ratio less ``margin_se`` standard
errors of those estimates (default 1), so a thin OOS sample's optimism is not an alarm.
Two sequential tests run over the live trades, each a one-sided CUSUM (Page 1954,
"Continuous inspection schemes", Biometrika 41), restarted at zero after an alarm:

- **P&L per trade** (a drop in the mean): with ``z = (x - mu) / sigma`` (``mu`` and ``sigma``
  scaled from the research quantity to the live one), ``S_n = max(0, S_{n-1} - z_n - k)``;
  alarm when ``S_n > h``. ``k`` is half the shift to detect in sigmas (0.5: a 1-sigma drop),
  ``h`` the decision interval (7: an in-control average run length of about 7,000 trades
  for normal P&L by Siegmund's approximation, a 1-sigma drop caught after about 14).
- **Hit ratio** (fewer winners): the Bernoulli CUSUM (Reynolds & Stoumbos 1999), i.e. Wald's
  SPRT of ``p0`` (research's hit ratio) against ``p1 = p0 - hit_shift`` restarted at zero:
  ``W_n = max(0, W_{n-1} + y ln(p1/p0) + (1-y) ln((1-p1)/(1-p0)))``; alarm when
  ``W_n > hit_h`` (6: Wald's bound ``ln(1/alpha)`` for alpha 0.25 %; a repeated test
  needs a wider one than a single SPRT's 4.6).
- **Slippage per fill** (worse execution than research charged): each fill's arrival
  slippage in bps (the TCA definition, :mod:`live.tca.metrics`: ``s * (fill - P_a) / P_a``,
  ``P_a`` the close known at the intent, a protective order's trigger or limit) less
  research's slippage per fill in bps of the same price, over ``slip_sigma_bps`` (the
  per-fill dispersion of arrival slippage a healthy stream shows: the bar-to-fill drift);
  each fill's ``x_n`` winsorised at +-``SLIP_CLIP`` (3) sigmas so one freak fill (slippage
  is heavy-tailed) cannot alarm alone; ``U_n = max(0, U_{n-1} + x_n - slip_k)``; alarm
  when ``U_n > slip_h`` (defaults 0.5 and 10: a one-sigma excess is caught after a median
  19 fills, 95 % within 35; a healthy stream raised no alarm in 1,000 fills over 200
  seeds, normal or Student-t(4) noise - tests/unit/test_health.py).

Pure and deterministic: the live runner folds the same statistics back from its journal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from strategies.errors import BadInputError

#: each fill's standardised excess slippage is winsorised at +- this many sigmas
SLIP_CLIP = 3.0
HEALTH_KEYS = ("trades", "hit_ratio", "pnl_per_trade_inr", "pnl_std_inr", "qty",
               "slippage_points")


class HealthExpectationError(BadInputError, ValueError):
    """A health expectation or health limits that cannot be used (missing, non-finite or
    out-of-range values); the message names the field and the value."""


def _finite(where: str, name: str, value: object, *, low: float | None = None,
            high: float | None = None, strict_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(float(value)):
        raise HealthExpectationError(f"{where}.{name}={value!r}: must be a finite number")
    number = float(value)
    if low is not None and (number < low or (strict_low and number == low)):
        raise HealthExpectationError(f"{where}.{name}={value!r}: must be "
                                     f"{'>' if strict_low else '>='} {low:g}")
    if high is not None and number > high:
        raise HealthExpectationError(f"{where}.{name}={value!r}: must be <= {high:g}")
    return number


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthExpectation:
    """What research measured of a version's out-of-sample trades (net of costs)."""

    trades: int
    hit_ratio: float
    pnl_per_trade_inr: float
    pnl_std_inr: float
    qty: int  # units each research trade was sized at
    slippage_points: float = 0.0  # research's slippage per fill, in price points

    def __post_init__(self) -> None:
        where = "model_config.health"
        if isinstance(self.trades, bool) or not isinstance(self.trades, int) or \
                self.trades < 2:
            raise HealthExpectationError(f"{where}.trades={self.trades!r}: must be an int >= 2")
        if isinstance(self.qty, bool) or not isinstance(self.qty, int) or self.qty < 1:
            raise HealthExpectationError(f"{where}.qty={self.qty!r}: must be an int >= 1")
        _finite(where, "hit_ratio", self.hit_ratio, low=0.0, high=1.0)
        _finite(where, "pnl_per_trade_inr", self.pnl_per_trade_inr)
        _finite(where, "pnl_std_inr", self.pnl_std_inr, low=0.0, strict_low=True)
        _finite(where, "slippage_points", self.slippage_points, low=0.0)

    @classmethod
    def from_trades(cls, net_pnl_inr: npt.ArrayLike, qty: int,
                    slippage_points: float = 0.0) -> HealthExpectation | None:
        """From the OOS trades' net P&L (None when fewer than 2 trades or no dispersion:
        nothing a live trade can be compared with)."""
        pnl = np.asarray(net_pnl_inr, dtype=np.float64)
        pnl = pnl[np.isfinite(pnl)]
        if len(pnl) < 2 or float(np.std(pnl, ddof=1)) <= 0.0:
            return None
        return cls(trades=len(pnl), hit_ratio=float(np.mean(pnl > 0.0)),
                   pnl_per_trade_inr=float(np.mean(pnl)), pnl_std_inr=float(np.std(pnl, ddof=1)),
                   qty=int(qty), slippage_points=float(slippage_points))

    @classmethod
    def from_json(cls, data: object) -> HealthExpectation:
        if not isinstance(data, Mapping):
            raise HealthExpectationError(f"model_config.health must be a mapping, got {data!r}")
        unknown = sorted(str(k) for k in data if k not in HEALTH_KEYS)
        missing = [k for k in HEALTH_KEYS if k not in data]
        if unknown or missing:
            raise HealthExpectationError(f"model_config.health: unknown keys {unknown}, "
                                         f"missing {missing}; keys are {list(HEALTH_KEYS)}")
        return cls(**{k: data[k] for k in HEALTH_KEYS})

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in HEALTH_KEYS}

    def at_qty(self, qty: int) -> tuple[float, float]:
        """(mean, standard deviation) of a trade's net P&L at ``qty`` units (linear in size:
        costs per unit and slippage per unit are research's)."""
        scale = qty / self.qty
        return self.pnl_per_trade_inr * scale, self.pnl_std_inr * scale

    def reference(self, qty: int, margin_se: float) -> tuple[float, float, float]:
        """(mean, standard deviation, hit ratio) the live trades at ``qty`` are tested
        against: research's mean and hit ratio less ``margin_se`` standard errors of their
        estimates over ``trades`` OOS trades (a thin sample's optimism is not an alarm)."""
        mean, std = self.at_qty(qty)
        root = math.sqrt(self.trades)
        hit_se = math.sqrt(self.hit_ratio * (1.0 - self.hit_ratio)) / root
        return (mean - margin_se * std / root, std,
                max(self.hit_ratio - margin_se * hit_se, 0.0))


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthLimits:
    """The CUSUM parameters (policy.yaml ``signal_governance.health``)."""

    cusum_k: float = 0.5
    cusum_h: float = 7.0
    hit_shift: float = 0.15
    hit_h: float = 6.0
    margin_se: float = 1.0
    min_expected_trades: int = 50
    slip_sigma_bps: float = 2.0
    slip_k: float = 0.5
    slip_h: float = 10.0

    def __post_init__(self) -> None:
        where = "signal_governance.health"
        _finite(where, "slip_sigma_bps", self.slip_sigma_bps, low=0.0, strict_low=True)
        _finite(where, "slip_k", self.slip_k, low=0.0)
        _finite(where, "slip_h", self.slip_h, low=0.0, strict_low=True)
        _finite(where, "cusum_k", self.cusum_k, low=0.0)
        _finite(where, "cusum_h", self.cusum_h, low=0.0, strict_low=True)
        _finite(where, "hit_shift", self.hit_shift, low=0.0, high=0.5, strict_low=True)
        _finite(where, "hit_h", self.hit_h, low=0.0, strict_low=True)
        _finite(where, "margin_se", self.margin_se, low=0.0, high=5.0)
        if isinstance(self.min_expected_trades, bool) or \
                not isinstance(self.min_expected_trades, int) or self.min_expected_trades < 2:
            raise HealthExpectationError(f"{where}.min_expected_trades="
                                         f"{self.min_expected_trades!r}: must be an int >= 2")

    def problem(self, expectation: HealthExpectation | None) -> str | None:
        """Why ``expectation`` cannot be monitored (None: it can)."""
        if expectation is None:
            return "the version carries no health expectation (registered before it existed)"
        if expectation.trades < self.min_expected_trades:
            return (f"its expectation rests on {expectation.trades} OOS trades, fewer than "
                    f"min_expected_trades={self.min_expected_trades}")
        return None


@dataclass(frozen=True, slots=True)
class HealthState:
    """The CUSUM statistics after ``trades`` observed trades and ``fills`` observed fills
    (since the last alarm)."""

    trades: int = 0
    cusum_pnl: float = 0.0
    cusum_hit: float = 0.0
    cusum_slip: float = 0.0
    fills: int = 0


@dataclass(frozen=True, slots=True)
class HealthStep:
    """One trade observed: the new state, the trade's z-score and the breaches (empty: the
    version is still healthy)."""

    state: HealthState
    z: float
    breaches: tuple[str, ...]


def hit_increments(p0: float, shift: float) -> tuple[float, float]:
    """(log-likelihood ratio of a winner, of a loser) for ``p1 = p0 - shift`` against
    ``p0``, both clipped inside (0, 1) so a 0 % or 100 % research hit ratio stays finite."""
    p0 = min(max(p0, 1e-3), 1 - 1e-3)
    p1 = min(max(p0 - shift, 1e-3), 1 - 1e-3)
    return math.log(p1 / p0), math.log((1 - p1) / (1 - p0))


def slippage_excess_bps(side: int, fill_price: float, arrival: float,
                        expectation: HealthExpectation) -> float:
    """One fill's arrival slippage in bps (side ``+1`` buy, ``-1`` sell) less research's
    slippage per fill in bps of the same arrival price."""
    if not (math.isfinite(fill_price) and math.isfinite(arrival) and arrival > 0.0):
        raise HealthExpectationError(f"fill price {fill_price!r} / arrival {arrival!r}: "
                                     "must be finite, the arrival > 0")
    return (side * (fill_price - arrival) - expectation.slippage_points) / arrival * 1e4


def _slip_cusum(start: float, fills: Sequence[float], limits: HealthLimits
                ) -> tuple[float, float]:
    """(the statistic after ``fills`` - excess bps -, its peak over them)."""
    u = peak = start
    for x in fills:
        if not math.isfinite(x):
            raise HealthExpectationError(f"fill slippage {x!r} bps is not finite")
        z = min(max(x / limits.slip_sigma_bps, -SLIP_CLIP), SLIP_CLIP)
        u = max(0.0, u + z - limits.slip_k)
        peak = max(peak, u)
    return u, peak


def observe(state: HealthState, pnl_inr: float, expectation: HealthExpectation, qty: int,
            limits: HealthLimits, fills: Sequence[float] = ()) -> HealthStep:
    """Fold one closed trade's net P&L (at ``qty`` units), and the excess slippage in bps
    (:func:`slippage_excess_bps`) of the fills seen since the last observation, into
    ``state``. After an alarm the statistics restart at zero (the hold itself is the
    runner's kill switch)."""
    if not math.isfinite(pnl_inr):
        raise HealthExpectationError(f"trade P&L {pnl_inr!r} is not finite")
    u, peak = _slip_cusum(state.cusum_slip, fills, limits)
    n_fills = state.fills + len(fills)
    mean, std, hit_ratio = expectation.reference(qty, limits.margin_se)
    z = (pnl_inr - mean) / std
    s = max(0.0, state.cusum_pnl - z - limits.cusum_k)
    win, loss = hit_increments(hit_ratio, limits.hit_shift)
    w = max(0.0, state.cusum_hit + (win if pnl_inr > 0.0 else loss))
    trades = state.trades + 1
    breaches = []
    if s > limits.cusum_h:
        breaches.append(f"P&L per trade CUSUM {s:.2f} > h {limits.cusum_h:g} after {trades} "
                        f"trade(s) (expected {mean:.2f} +- {std:.2f} INR per trade)")
    if w > limits.hit_h:
        breaches.append(f"hit-ratio CUSUM {w:.2f} > {limits.hit_h:g} after {trades} trade(s) "
                        f"(expected hit ratio {hit_ratio:.3f}, alternative "
                        f"{max(hit_ratio - limits.hit_shift, 0.0):.3f})")
    if peak > limits.slip_h:
        breaches.append(f"slippage CUSUM {peak:.2f} > {limits.slip_h:g} after {n_fills} "
                        f"fill(s) (research charged {expectation.slippage_points:g} points "
                        f"per fill; sigma {limits.slip_sigma_bps:g} bps)")
    if breaches:
        return HealthStep(HealthState(), z, tuple(breaches))
    return HealthStep(HealthState(trades, s, w, u, n_fills), z, ())

