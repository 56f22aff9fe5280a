"""Shadow/live reconciliation: per strategy and day, the trades the runner made (from its
journal) against the shadow expectation - the bar simulator run on exactly the bars the
runner saw, with the version's params, quantity and fill model. Every difference is a break
(a missing or extra trade, a different price, quantity or exit time); the daily reports
(JSON + HTML) and their break counts feed the canary -> live approval.

What the runner's own controls did is *explained*, not a break: an expected trade whose
entry the runner decided and governance or the risk engine denied (a lockout window, a kill
switch, a pre-trade check), and a trade a kill-switch flatten closed before the simulator's
exit (a drawdown guardrail, a desk kill). Each is listed in the report with the journaled
reason; a missing trade with no denial behind it, or any other difference, stays a break.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from live.broker import Side
from live.events import (
    BarClosed,
    GovernanceDecided,
    InternalCrossed,
    InternalCrossStarted,
    KillSwitchChanged,
    ModeChanged,
    OrderFilled,
    OrderIntended,
    RiskChecked,
    SignalRaised,
)
from live.journal import Journal
from live.runner.decisions import LEVEL_KEYS
from strategies.bars import Bars, bars_from_frame
from strategies.files import atomic_write
from strategies.roster import get_strategy
from strategies.simulator import SimConfig, simulate
from strategies.version_config import SimRules, SymbolSize

PRICE_TOLERANCE = 1e-6


def expectation_config(sim: SimRules, qty: int, size: SymbolSize | None = None) -> SimConfig:
    """The simulator settings of the shadow expectation for a version whose execution rules
    are ``sim`` and that traded ``qty`` units per order (the stage's size): its lot size,
    slippage, trade cap and protective levels; ``size``: the symbol's own lot and tick (a
    several-symbol version's :meth:`~strategies.version_config.VersionConfig.size_of`)."""
    lot = sim.lot_size if size is None else size.lot_size
    tick = sim.tick_size if size is None else size.tick_size
    return SimConfig(qty_lots=max(1, qty // lot), lot_size=lot,
                     slippage_ticks=sim.slippage_ticks, tick_size=tick,
                     max_trades_per_day=sim.max_trades_per_day, round_levels=sim.round_levels,
                     **{key: getattr(sim, key) for key in LEVEL_KEYS})


@dataclass(frozen=True, slots=True)
class Trade:
    entry_ts: str
    exit_ts: str
    side: int
    qty: int
    entry_price: float
    exit_price: float


@dataclass
class DayReport:
    strategy: str
    version: str
    mode: str
    day: str
    expected: list[Trade] = field(default_factory=list)
    actual: list[Trade] = field(default_factory=list)
    breaks: list[str] = field(default_factory=list)
    explained: list[str] = field(default_factory=list)  # the runner's controls, as expected

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "version": self.version, "mode": self.mode,
                "day": self.day, "breaks": self.breaks, "explained": self.explained,
                "expected": [asdict(t) for t in self.expected],
                "actual": [asdict(t) for t in self.actual]}


@dataclass
class _Journaled:
    """What one pass over the journal yields for reconciliation."""

    bars: dict[str, list[BarClosed]] = field(default_factory=lambda: defaultdict(list))
    intents: dict[str, OrderIntended] = field(default_factory=dict)
    fills: list[OrderFilled] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # strategy -> running version
    mode: str = ""
    signals: dict[str, SignalRaised] = field(default_factory=dict)  # trace id -> signal
    denials: dict[str, str] = field(default_factory=dict)  # trace id -> who denied, why
    flattens: list[tuple[pd.Timestamp, str]] = field(default_factory=list)  # kill switch
    # internal crosses (self_trade: net): the marker of each, by cross id; a cross booked is
    # a fill of both strategies at the resting limit (not a broker execution, but a trade)
    crossing: dict[str, InternalCrossStarted] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # client key -> strategy


@dataclass(frozen=True, slots=True)
class _Controls:
    """What the runner's controls did to one strategy on one symbol: denied entries by the
    time their fill was expected (the next bar), and exits made by a kill-switch flatten."""

    denied: dict[pd.Timestamp, str]
    flattened: dict[pd.Timestamp, str]  # exit fill time -> why


def _scan(journal: Journal, from_seq: int = 1, to_seq: int | None = None) -> _Journaled:
    out = _Journaled()
    for seq, m in journal.read(from_seq):
        if to_seq is not None and seq > to_seq:
            break
        if isinstance(m, BarClosed):
            out.bars[m.symbol].append(m)
        elif isinstance(m, OrderIntended):
            out.intents[m.client_key] = m
            out.owners[m.client_key] = m.strategy
            out.mode = str(m.mode)
        elif isinstance(m, OrderFilled):
            out.fills.append(m)
        elif isinstance(m, InternalCrossStarted | InternalCrossed):
            _cross(out, m)
        elif isinstance(m, ModeChanged):
            out.mode = str(m.mode)
        elif isinstance(m, SignalRaised):
            out.signals[m.trace_id] = m
        elif isinstance(m, GovernanceDecided) and not m.allowed:
            out.denials[m.trace_id] = f"denied by governance: {m.reason}"
        elif isinstance(m, RiskChecked) and not m.passed:
            out.denials[m.trace_id] = f"denied by risk ({m.check}): {m.reason}"
        elif isinstance(m, KillSwitchChanged) and str(m.mode) == "flatten":
            out.flattens.append((pd.Timestamp(m.ts_event), m.reason))
    return out


def _cross(out: _Journaled, m: InternalCrossStarted | InternalCrossed) -> None:
    """An internal cross as the two fills it stands for (each strategy's leg)."""
    if isinstance(m, InternalCrossStarted):
        out.crossing[m.cross_id] = m
        out.owners[m.cross_id] = m.strategy
        return
    started = out.crossing.pop(m.cross_id, None)
    if started is None or m.crossed_qty == 0:
        return
    other = Side.SELL if started.side is Side.BUY else Side.BUY
    for key, side, leg in ((started.cross_id, started.side, "a"),
                           (started.resting_key, other, "b")):
        out.fills.append(OrderFilled(
            trace_id=m.trace_id, ts_event=m.ts_event, client_key=key,
            broker_order_id="internal", trade_id=f"{m.trade_id}{leg}", symbol=started.symbol,
            side=side, qty=m.crossed_qty, price=started.price))


def _controls(seen: _Journaled, strategy: str, symbol: str) -> _Controls:
    bar_times = [pd.Timestamp(b.ts_event) for b in seen.bars.get(symbol, [])]
    following = dict(pairwise(bar_times))
    denied: dict[pd.Timestamp, str] = {}
    for trace, why in seen.denials.items():
        signal = seen.signals.get(trace)
        if signal is None or signal.strategy != strategy or signal.symbol != symbol or \
                signal.reason != "entry":
            continue
        fill_at = following.get(pd.Timestamp(signal.ts_event))
        if fill_at is not None:
            denied[fill_at] = why
    flattened: dict[pd.Timestamp, str] = {}
    for f in seen.fills:
        intent = seen.intents.get(f.client_key)
        signal = seen.signals.get(f.trace_id)
        if intent is None or intent.strategy != strategy or f.symbol != symbol or \
                signal is None or not signal.reason.startswith("flatten"):
            continue
        decided = pd.Timestamp(signal.ts_event)
        why = next((reason for ts, reason in reversed(seen.flattens) if ts <= decided),
                   "the desk's kill switch")
        flattened[pd.Timestamp(f.ts_event)] = f"kill-switch {signal.reason}: {why}"
    return _Controls(denied, flattened)


def actual_trades(seen: _Journaled, strategy: str, symbol: str) -> list[Trade]:
    """Round trips from the journaled fills of ``strategy`` on ``symbol``."""
    trades, pos, entry = [], 0, None
    for f in seen.fills:
        if seen.owners.get(f.client_key) != strategy or f.symbol != symbol:
            continue
        signed = f.qty if str(f.side) == "BUY" else -f.qty
        if pos == 0:
            entry = (f.ts_event, f.price, 1 if signed > 0 else -1, abs(signed))
        pos += signed
        if pos == 0 and entry is not None:
            trades.append(Trade(str(pd.Timestamp(entry[0])), str(pd.Timestamp(f.ts_event)),
                                entry[2], entry[3], entry[1], f.price))
    return trades


def window_bars(bars: list[BarClosed], venue: str) -> Bars:
    """The runner's journaled bars as the simulator's :class:`~strategies.bars.Bars`."""
    frame = pd.DataFrame({"ts": [b.ts_event for b in bars], "symbol": bars[0].symbol,
                          "open": [b.open for b in bars], "high": [b.high for b in bars],
                          "low": [b.low for b in bars], "close": [b.close for b in bars],
                          "volume": [b.volume for b in bars]})
    frame["ts"] = pd.to_datetime(frame["ts"]).dt.tz_convert("Asia/Kolkata") \
        if venue == "NSE" else pd.to_datetime(frame["ts"])
    return bars_from_frame(frame, symbol=bars[0].symbol, venue=venue)


def closed_trades(t: pd.DataFrame) -> list[Trade]:
    """A simulator trade table as trades, without those the data's end closed (still open
    for the strategy)."""
    t = t[t["exit_reason"] != "end_of_data"]
    return [Trade(str(pd.Timestamp(a)), str(pd.Timestamp(b)), 1 if s == "long" else -1,
                  int(q), float(ep), float(xp))
            for a, b, s, q, ep, xp in zip(t["entry_ts"], t["exit_ts"], t["side"], t["qty"],
                                          t["entry_price"], t["exit_price"], strict=True)]


def expected_trades(bars: list[BarClosed], strategy: str, params: dict[str, Any],
                    venue: str, sim: SimConfig) -> list[Trade]:
    """The simulator's trades on the runner's bars."""
    spec = get_strategy(strategy)
    bars_obj = window_bars(bars, venue)
    try:
        result = simulate(bars_obj, spec.signals(bars_obj, spec.params_cls(**params)), sim)
    except ValueError:
        return []  # fewer bars than the warm-up: no trade expected
    return closed_trades(result.trades)


def _breaks(expected: list[Trade], actual: list[Trade],
            controls: _Controls | None = None) -> tuple[list[str], list[str]]:
    """The breaks, and the differences the runner's controls explain."""
    controls = controls or _Controls({}, {})
    by_entry = {t.entry_ts: t for t in actual}
    out: list[str] = []
    explained: list[str] = []
    for want in expected:
        got = by_entry.pop(want.entry_ts, None)
        if got is None:
            trade = f"trade entered {want.entry_ts} ({want.side:+d} x {want.qty})"
            denial = controls.denied.get(pd.Timestamp(want.entry_ts))
            if denial is not None:
                explained.append(f"{trade} not taken: {denial}")
            else:
                out.append(f"missing {trade}")
            continue
        flatten = controls.flattened.get(pd.Timestamp(got.exit_ts))
        early_exit = flatten is not None and \
            pd.Timestamp(got.exit_ts) < pd.Timestamp(want.exit_ts)
        if early_exit:
            explained.append(f"trade {want.entry_ts}: closed {got.exit_ts} at "
                             f"{got.exit_price} (expected {want.exit_ts} at {want.exit_price}) "
                             f"by {flatten}")
        for name in ("side", "qty") if early_exit else ("side", "qty", "exit_ts"):
            if getattr(got, name) != getattr(want, name):
                out.append(f"trade {want.entry_ts}: {name} {getattr(got, name)} != expected "
                           f"{getattr(want, name)}")
        for name in ("entry_price",) if early_exit else ("entry_price", "exit_price"):
            if not np.isclose(getattr(got, name), getattr(want, name), rtol=0,
                              atol=PRICE_TOLERANCE):
                out.append(f"trade {want.entry_ts}: {name} {getattr(got, name)} != expected "
                           f"{getattr(want, name)}")
    out += [f"extra trade entered {t.entry_ts} ({t.side:+d} x {t.qty})" for t in
            by_entry.values()]
    return out, explained


def reconcile_journal(journal: Journal, *, strategy: str, params: dict[str, Any],
                      venue: str, symbol: str, sim: SimConfig, max_sessions: int = 5,
                      from_seq: int = 1, to_seq: int | None = None) -> list[DayReport]:
    """One report per session day the journal saw for ``symbol`` (between the seqs) and
    traded on: warm-up bars (``BarClosed.warm``) are history for the backtest, never a day."""
    return reconcile_expected(
        journal, strategy=strategy, symbol=symbol,
        expect=lambda bars: expected_trades(bars, strategy, params, venue, sim),
        max_sessions=max_sessions, from_seq=from_seq, to_seq=to_seq)


def reconcile_expected(journal: Journal, *, strategy: str, symbol: str,
                       expect: Callable[[list[BarClosed]], list[Trade]],
                       max_sessions: int = 5, from_seq: int = 1, to_seq: int | None = None,
                       own_holds: str | None = None) -> list[DayReport]:
    """:func:`reconcile_journal` against the trades ``expect`` simulates on each day's
    window of bars (up to ``max_sessions`` sessions ending on that day). ``own_holds``: the
    prefix of governance denials the expectation already simulates (an ensemble's own
    resolution, ``"ensemble_nifty v1: ensemble "``): those explain nothing - a trade missing
    there is a break, since the simulation did not hold it."""
    seen = _scan(journal, from_seq, to_seq)
    if own_holds is not None:
        seen.denials = {t: why for t, why in seen.denials.items()
                        if not why.startswith(f"denied by governance: {own_holds}")}
    bars = seen.bars.get(symbol, [])
    days = sorted({pd.Timestamp(b.ts_event).tz_convert("Asia/Kolkata").date() for b in bars
                   if not b.warm})
    actual = actual_trades(seen, strategy, symbol)
    controls = _controls(seen, strategy, symbol)
    version = next((i.version for i in seen.intents.values() if i.strategy == strategy), "?")
    reports = []
    every = sorted({pd.Timestamp(b.ts_event).tz_convert("Asia/Kolkata").date() for b in bars})
    for day in days:
        i = every.index(day)
        window = set(every[max(0, i - max_sessions + 1): i + 1])
        in_window = [b for b in bars
                     if pd.Timestamp(b.ts_event).tz_convert("Asia/Kolkata").date() in window]
        expected = [t for t in expect(in_window) if pd.Timestamp(t.entry_ts).date() == day]
        got = [t for t in actual if pd.Timestamp(t.entry_ts).date() == day]
        breaks, explained = _breaks(expected, got, controls)
        reports.append(DayReport(strategy, version, seen.mode, str(day), expected, got,
                                 breaks, explained))
    return reports


def write_day_report(report: DayReport, out_dir: Path) -> tuple[Path, Path]:
    """``<day>.json`` and ``<day>.html`` under ``out_dir`` (atomic)."""
    stem = out_dir / report.day
    text = json.dumps(report.to_dict(), indent=2, sort_keys=True)
    json_path = atomic_write(stem.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text))
    rows = "".join(
        f"<tr><td>{html.escape(kind)}</td><td>{t.entry_ts}</td><td>{t.exit_ts}</td>"
        f"<td>{t.side:+d}</td><td>{t.qty}</td><td>{t.entry_price:.2f}</td>"
        f"<td>{t.exit_price:.2f}</td></tr>"
        for kind, trades in (("expected", report.expected), ("actual", report.actual))
        for t in trades)
    breaks = "".join(f"<li>{html.escape(b)}</li>" for b in report.breaks) or "<li>none</li>"
    explained = "".join(f"<li>{html.escape(b)}</li>" for b in report.explained) or \
        "<li>none</li>"
    page = (f"<html><head><meta charset='utf-8'><title>{html.escape(report.strategy)} "
            f"{report.day}</title></head><body><h1>Reconciliation {html.escape(report.strategy)}"
            f" v{html.escape(report.version)} ({html.escape(report.mode)}) {report.day}</h1>"
            f"<h2>Breaks: {len(report.breaks)}</h2><ul>{breaks}</ul>"
            f"<h2>Explained by the runner's controls (as expected): {len(report.explained)}"
            f"</h2><ul>{explained}</ul><table border='1'>"
            "<tr><th></th><th>entry</th><th>exit</th><th>side</th><th>qty</th>"
            f"<th>entry px</th><th>exit px</th></tr>{rows}</table></body></html>")
    html_path = atomic_write(stem.with_suffix(".html"), lambda tmp: Path(tmp).write_text(page))
    return json_path, html_path

