"""The risk report: utilisation of every limit, VaR/CVaR, stress and margin, now.

Positions come from a journal's state (index futures on the researched symbols, the
nearest monthly expiry by default); market prices from the last journaled bars; return
history and volatility from the daily closes of the intraday dataset. Every number is
computed by the risk modules (var, stress, margin, exposure); this module only assembles
them into rows of (area, item, value, limit, utilisation).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from live.risk.exposure import ExposureContext, exposure_of, exposure_violations
from live.risk.limits import RiskLimits, by_name
from live.risk.margin import Instrument, Position, load_margin_params, margin_required
from live.risk.stress import Scenario, run_scenarios
from live.risk.var import historical_var_cvar, parametric_var_cvar
from live.state import LiveState

RATE = 0.065


@dataclass(frozen=True, slots=True)
class Row:
    area: str
    item: str
    value: float
    limit: float | None

    @property
    def utilisation(self) -> float | None:
        if self.limit is None or self.limit == 0:
            return None
        return abs(self.value) / self.limit


def month_end_expiry(day: date) -> date:
    """Approximate monthly expiry: the month's last day (the report says so)."""
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def exposure_caps(limits: RiskLimits) -> dict[str, float]:
    """``risk.yaml``'s exposure caps as ``measure/dimension/name`` keys (``*`` = default)."""
    caps: dict[str, float] = {}
    for measure in ("gross_inr", "net_inr"):
        table = getattr(limits.exposure, measure)
        for dimension in ("symbol", "sector", "strategy"):
            for name, value in getattr(table, dimension).items():
                caps[f"{measure}/{dimension}/{'*' if name == 'default' else name}"] = value
        caps[f"{measure}/expiry/*"] = table.expiry
    for name, greeks in limits.exposure.greeks.items():
        key = "*" if name == "default" else name
        for measure in ("delta_units", "gamma_units_per_point", "vega_inr_per_vol_pt"):
            caps[f"{measure}/underlying/{key}"] = getattr(greeks, measure)
    return caps


def _cap_for(bucket: str, caps: dict[str, float]) -> float | None:
    if bucket in caps:
        return caps[bucket]
    measure, dimension, _ = bucket.split("/", 2)
    return caps.get(f"{measure}/{dimension}/*")


def daily_returns(frame: pd.DataFrame) -> pd.DataFrame:
    """Daily close-to-close returns per symbol from intraday bars."""
    closes = frame.assign(day=frame["ts"].dt.tz_localize(None).dt.normalize()) \
        .groupby(["day", "symbol"])["close"].last().unstack("symbol")
    return closes.pct_change().dropna(how="all")


def futures_positions(state: LiveState, lot_sizes: dict[str, int], today: date
                      ) -> list[Position]:
    """The journal's open positions as index-future positions (whole lots)."""
    out = []
    for (strategy, symbol), pos in sorted(state.positions.items()):
        if pos.net_qty == 0:
            continue
        lot = lot_sizes.get(symbol, 1)
        instrument = Instrument(symbol=symbol, underlying=symbol, kind="future",
                                expiry=month_end_expiry(today), lot_size=lot)
        out.append(Position(instrument=instrument, qty_lots=pos.net_qty // lot,
                            strategy=strategy))
    return out


def _position_rows(state: LiveState, limits: RiskLimits, lot_sizes: dict[str, int]
                   ) -> list[Row]:
    by_symbol: dict[str, int] = {}
    rows = []
    for (strategy, symbol), pos in sorted(state.positions.items()):
        lots = pos.net_qty // lot_sizes.get(symbol, 1)
        by_symbol[symbol] = by_symbol.get(symbol, 0) + lots
        rows.append(Row("positions", f"{strategy} {symbol} net lots", lots,
                        by_name(limits.positions.max_net_lots_per_strategy, strategy)))
    rows += [Row("positions", f"{symbol} net lots", lots,
                 by_name(limits.positions.max_net_lots_per_symbol, symbol))
             for symbol, lots in sorted(by_symbol.items())]
    open_orders = [o for o in state.orders.values()
                   if str(o.status) in ("INTENDED", "UNKNOWN", "OPEN")]
    rows.append(Row("pre_trade", "open orders", len(open_orders),
                    limits.pre_trade.max_open_orders))
    return rows


def _var_rows(notional: dict[str, float], returns: pd.DataFrame, limits: RiskLimits
              ) -> list[Row]:
    p = limits.portfolio
    capital = limits.margin.available_capital_inr
    cap = p.max_var_utilisation * capital
    if not notional:
        return [Row("portfolio", "VaR (no open positions)", 0.0, cap)]
    window = returns[list(notional)].tail(p.lookback_days)
    hist = historical_var_cvar(notional, window, p.var_confidence, p.horizon_days)
    para = parametric_var_cvar(notional, window, p.var_confidence, p.horizon_days)
    rows = [Row("portfolio", f"historical VaR {p.var_confidence:.0%}", hist.var_inr, cap),
            Row("portfolio", f"historical CVaR {p.var_confidence:.0%}", hist.cvar_inr, None),
            Row("portfolio", f"parametric VaR {p.var_confidence:.0%}", para.var_inr, cap),
            Row("portfolio", f"parametric CVaR {p.var_confidence:.0%}", para.cvar_inr, None)]
    scenarios = [Scenario(name=s.name, kind=s.kind, size=s.size) for s in p.stress_scenarios]
    for result in run_scenarios(notional, window, scenarios, confidence=p.var_confidence,
                                horizon_days=p.horizon_days):
        value = result.pnl_inr if result.pnl_inr is not None else result.var_inr
        rows.append(Row("stress", result.name, float(value or 0.0), None))
    return rows


def risk_report(state: LiveState, limits: RiskLimits, frame: pd.DataFrame,
                lot_sizes: dict[str, int], root: Path, today: date) -> list[Row]:
    """Every row of the report for ``state`` at the last journaled prices."""
    closes = {s: b.close for s, b in state.last_bars.items()}
    returns = daily_returns(frame)
    vols = {s: float(returns[s].tail(limits.portfolio.lookback_days).std() * np.sqrt(252))
            for s in returns.columns}
    market = {s: (closes[s], vols.get(s, 0.2)) for s in closes}
    positions = futures_positions(state, lot_sizes, today)
    rows = _position_rows(state, limits, lot_sizes)
    notional: dict[str, float] = {}
    for p in positions:
        notional[p.instrument.symbol] = notional.get(p.instrument.symbol, 0.0) + \
            p.qty_units * closes[p.instrument.symbol]
    rows += _var_rows(notional, returns, limits)
    if positions:
        context = ExposureContext(market=market, today=today,
                                  sector_by_underlying=limits.exposure.sectors, rate=RATE)
        exposure = exposure_of(positions, context)
        caps = exposure_caps(limits)
        for bucket, value in sorted(exposure.buckets().items()):
            rows.append(Row("exposure", bucket, value, _cap_for(bucket, caps)))
        for v in exposure_violations(exposure, caps):
            rows.append(Row("exposure", f"VIOLATION {v.bucket}", v.value, v.cap))
        params = load_margin_params(root / limits.margin.params_file)
        margin = margin_required(positions, market, params, today)
        rows.append(Row("margin", "SPAN-like total", margin.total_inr,
                        limits.margin.available_capital_inr))
    else:
        rows.append(Row("margin", "SPAN-like total (no open positions)", 0.0,
                        limits.margin.available_capital_inr))
    return rows
