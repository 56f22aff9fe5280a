"""Intraday guardrails evaluated at every bar: drawdown bands, daily-loss and volatility
kill triggers, lockout windows.

Per strategy and for the portfolio, today's P&L **net of the cost model** (realised since
the session began plus the open position marked at the last close, minus the charges of
today's fills and of closing the open position now, INR) is tracked against its intraday
peak. The charges are research's (:mod:`strategies.costs`: the version's cost schedule, one
formula for the simulator and live), fed with every journaled fill (:meth:`Guardrails.note_fill`,
by the runner live and by its journal fold on restart):

* drawdown >= ``soft_pct`` of capital: new entries are scaled by ``soft_scale`` (journaled
  once as an alert);
* drawdown >= ``hard_pct``: flatten and lock out for the rest of the session (the runner
  re-arms its own session lockouts at the next session);
* today's loss >= ``max_strategy_daily_loss_inr`` / ``max_daily_loss_inr``, or a one-bar
  move beyond ``max_abs_1min_return_pct``: the kill switch (flatten, or halt for volatility),
  which only a risk officer can re-arm;
* inside a lockout window (e.g. the first minutes after the open): no new entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from live.broker import Side
from live.events import OrderFilled
from live.risk.limits import DrawdownBand, RiskLimits
from live.state import LiveState
from strategies.costs import CostRates, order_cost_breakdown
from strategies.errors import StratopsError

SESSION_LOCK = "session lockout"  # reason prefix of the locks the runner lifts itself


KEY_PATTERN = re.compile(r"\[(guard:[^\]]+)\]$")  # a journaled action's trigger key


@dataclass(frozen=True, slots=True)
class GuardAction:
    """``kill``: pull the switch (scope, mode); ``alert``: journal an alert only. ``key``
    names the trigger (``guard:hard:<scope>``, ...): the runner journals it at the end of
    the reason, so a restart knows which triggers already fired this session."""

    kind: str
    scope: str
    mode: str
    reason: str
    key: str = ""

    @property
    def journaled_reason(self) -> str:
        return f"{self.reason} [{self.key}]"


def fired_key(reason: str) -> str | None:
    """The trigger key a journaled guardrail reason ends with (None for other reasons)."""
    found = KEY_PATTERN.search(reason)
    return found.group(1) if found else None


class GuardrailsConfigError(StratopsError, ValueError):
    """A strategy whose capital is watched has no cost schedule to net its P&L with."""


@dataclass
class _Day:
    start_realised: dict[str, float] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)
    fired: set[str] = field(default_factory=set)
    costs: dict[str, float] = field(default_factory=dict)  # charges of today's fills, INR
    fills: set[str] = field(default_factory=set)  # trade ids counted today


class Guardrails:
    """Stateful within a session; rebuilt on restart from the journal: the peaks and scales
    by :meth:`replay_bar` at every journaled bar, the fired triggers by :meth:`mark_fired`
    from the journaled actions."""

    def __init__(self, limits: RiskLimits, capital_inr: dict[str, float], *,
                 costs: Mapping[str, CostRates]) -> None:
        missing = sorted(set(capital_inr) - set(costs))
        if missing:
            raise GuardrailsConfigError(f"no cost rates for {missing}: guardrails need every "
                                        "watched strategy's cost schedule")
        self.limits, self.capital, self.costs = limits, capital_inr, dict(costs)
        self.day: object = None
        self._today = _Day()
        self.scale: dict[str, float] = {}
        self._replaying = False

    def new_session(self, day: object, state: LiveState) -> None:
        self.day, self._today, self.scale = day, _Day(), {}
        for name, stats in state.stats.items():
            self._today.start_realised[name] = stats.realised_pnl_inr

    def in_lockout(self, local: time) -> bool:
        return any(w.start <= local < w.end for w in self.limits.drawdown.lockout_windows)

    def note_fill(self, strategy: str, fill: OrderFilled) -> None:
        """A journaled fill of ``strategy``: its charges count against today's P&L (once per
        trade id; a strategy not watched is ignored)."""
        rates = self.costs.get(strategy)
        if rates is None or fill.trade_id in self._today.fills:
            return
        self._today.fills.add(fill.trade_id)
        self._today.costs[strategy] = self._today.costs.get(strategy, 0.0) + \
            order_cost_breakdown(rates, is_buy=fill.side is Side.BUY,
                                 notional_inr=abs(fill.qty * fill.price)).total_inr

    def costs_today(self, strategy: str) -> float:
        """Charges of ``strategy``'s fills this session (INR)."""
        return self._today.costs.get(strategy, 0.0)

    def _pnl_today(self, state: LiveState, strategy: str, closes: dict[str, float]) -> float:
        """Today's P&L net of costs: realised + marked - today's charges - closing charges."""
        stats = state.stats.get(strategy)
        realised = stats.realised_pnl_inr if stats is not None else 0.0
        pnl = realised - self._today.start_realised.get(strategy, 0.0) - \
            self.costs_today(strategy)
        rates = self.costs.get(strategy)
        for (name, symbol), pos in state.positions.items():
            if name == strategy and pos.net_qty and symbol in closes:
                pnl += (closes[symbol] - pos.avg_price) * pos.net_qty
                if rates is not None:  # what closing it now would be charged
                    pnl -= order_cost_breakdown(
                        rates, is_buy=pos.net_qty < 0,
                        notional_inr=abs(pos.net_qty * closes[symbol])).total_inr
        return pnl

    def mark_fired(self, key: str) -> None:
        """A trigger journaled earlier this session (rebuilt on restart from the journal)."""
        self._today.fired.add(key)

    def _once(self, key: str, action: GuardAction, out: list[GuardAction]) -> None:
        key = f"guard:{key}"
        if key not in self._today.fired and not self._replaying:
            self._today.fired.add(key)
            out.append(GuardAction(action.kind, action.scope, action.mode, action.reason, key))

    def _band(self, scope: str, pnl: float, capital: float, band: DrawdownBand,
              out: list[GuardAction]) -> None:
        peak = max(self._today.peak.get(scope, 0.0), pnl)
        self._today.peak[scope] = peak
        if capital <= 0:
            return
        dd_pct = (peak - pnl) / capital * 100.0
        if dd_pct >= band.hard_pct:
            self._once(f"hard:{scope}", GuardAction(
                "kill", scope, "flatten", f"{SESSION_LOCK}: drawdown {dd_pct:.2f}% of capital "
                f">= hard {band.hard_pct}%"), out)
        elif dd_pct >= band.soft_pct:
            self.scale[scope] = band.soft_scale
            self._once(f"soft:{scope}", GuardAction(
                "alert", scope, "soft_drawdown", f"drawdown {dd_pct:.2f}% >= soft "
                f"{band.soft_pct}%: entries scaled by {band.soft_scale}"), out)

    def replay_bar(self, state: LiveState, closes: dict[str, float],
                   one_bar_return_pct: dict[str, float]) -> None:
        """:meth:`on_bar` while a restart folds the journal: today's peaks and soft scales
        move, no trigger is marked fired (the journaled ones are, by :meth:`mark_fired`)."""
        self._replaying = True
        try:
            self.on_bar(state, closes, one_bar_return_pct)
        finally:
            self._replaying = False

    def on_bar(self, state: LiveState, closes: dict[str, float],
               one_bar_return_pct: dict[str, float]) -> list[GuardAction]:
        """Actions due after this bar's fills (each fires at most once per session)."""
        out: list[GuardAction] = []
        kill = self.limits.kill_switch
        total = 0.0
        for strategy, capital in sorted(self.capital.items()):
            pnl = self._pnl_today(state, strategy, closes)
            total += pnl
            self._band(strategy, pnl, capital, self.limits.drawdown_for(strategy), out)
            if -pnl >= kill.max_strategy_daily_loss_inr:
                self._once(f"loss:{strategy}", GuardAction(
                    "kill", strategy, "flatten", f"daily loss net of costs {-pnl:,.0f} INR >= "
                    f"{kill.max_strategy_daily_loss_inr:,.0f}"), out)
        self._band("all", total, sum(self.capital.values()), self.limits.drawdown.portfolio,
                   out)
        if -total >= kill.max_daily_loss_inr:
            self._once("loss:all", GuardAction("kill", "all", "flatten",
                                               f"portfolio daily loss net of costs "
                                               f"{-total:,.0f} INR >= "
                                               f"{kill.max_daily_loss_inr:,.0f}"), out)
        for symbol, move in sorted(one_bar_return_pct.items()):
            if abs(move) > kill.max_abs_1min_return_pct:
                self._once(f"vol:{symbol}", GuardAction(
                    "kill", "all", "halt", f"{symbol} moved {move:+.2f}% in one bar "
                    f"(> {kill.max_abs_1min_return_pct}%): volatility halt"), out)
        return out

    def memory(self) -> dict[str, Any]:
        """Today's session as plain data (a runner snapshot's part): the day, start P&L,
        peaks, fired triggers, charges, counted trade ids and the soft scales."""
        today = self._today
        return {"day": None if self.day is None else self.day.isoformat(),  # type: ignore[attr-defined]
                "start_realised": today.start_realised, "peak": today.peak,
                "fired": sorted(today.fired), "costs": today.costs,
                "fills": sorted(today.fills), "scale": self.scale}

    def restore(self, memory: dict[str, Any]) -> None:
        """Take back what :meth:`memory` returned."""
        day = None if memory["day"] is None else date.fromisoformat(memory["day"])
        today = _Day(start_realised=_floats(memory["start_realised"]),
                     peak=_floats(memory["peak"]), fired=set(memory["fired"]),
                     costs=_floats(memory["costs"]), fills=set(memory["fills"]))
        self.day, self._today, self.scale = day, today, _floats(memory["scale"])

    def entry_scale(self, strategy: str) -> float:
        return min(self.scale.get(strategy, 1.0), self.scale.get("all", 1.0))


def _floats(values: dict[str, Any]) -> dict[str, float]:
    """A snapshot's amounts by name, as stored (a non-number is refused)."""
    bad = {k: v for k, v in values.items() if not isinstance(v, int | float)}
    if bad:
        raise TypeError(f"guardrails memory: amounts that are not numbers: {bad}")
    return dict(values)
